//! Documents: travel vouchers, booking confirmations, invoices, credit notes
//! and Umrah group manifests, as [`Document`]s rendered to PDF by the
//! [`DocumentRenderer`] port.
//!
//! - **Authorization.** Every document reads its record through the service
//!   that owns it ([`Bookings::get`], [`Tickets::list`], [`Finance::get_invoice`],
//!   [`Umrah::get_group`], …), so it is authorized exactly like reading that
//!   record: another tenant's or an unseen branch's id is `NotFound`, a role
//!   that may not read it is `Forbidden`. Nothing is written; nothing is
//!   audited beyond what those reads audit.
//! - **Content, not layout.** This module decides what a document says
//!   (headings, fields, tables, in order); the renderer decides how it
//!   looks and shapes right-to-left text (names in Arabic, Urdu, Persian).
//! - **Money** is printed with its currency's own number of decimals and
//!   thousands grouped (`12,500.00 SAR`, `1,250 JPY`, `3.125 KWD`); sums are
//!   never mixed across currencies.
//! - **Times** of travel are the local times of the place, with the IANA
//!   zone, as on a boarding pass; the manifest shows passport numbers only
//!   as their last two characters (the CSV export is the one place for full
//!   numbers, and is audited).
//! - The tenant's [`Branding`] is an argument: the caller loads it (the
//!   files service keeps the logo).

use std::sync::Arc;

use chrono::NaiveDate;

use crate::domain::finance::{CreditNote, Invoice, InvoiceNumber, InvoiceStatus, TaxRate};
use crate::domain::{Booking, Context, ItemKind, LocalTime, Ticket};
use crate::error::{Error, Result};
use crate::id::{BookingId, CreditNoteId, InvoiceId, UmrahGroupId};
use crate::money::Money;
use crate::ports::{
    Block, Branding, Document, DocumentKind, DocumentRenderer, PageRequest, PageSize,
};
use crate::security::keyring::KeyRing;
use crate::service::bookings::Bookings;
use crate::service::clients::Clients;
use crate::service::finance::Finance;
use crate::service::tenancy::Deps;
use crate::service::tickets::Tickets;
use crate::service::umrah::Umrah;

/// How a document is printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentOptions {
    /// A4 (default) or Letter.
    pub page_size: PageSize,
    /// Who travellers call in an emergency (a phone number and a name), on
    /// vouchers. Without one the voucher prints the tenant's emergency
    /// contact from its branding settings, and without that the agency and
    /// its address.
    pub emergency_contact: Option<String>,
}

/// The documents service.
#[derive(Debug, Clone)]
pub struct Documents {
    bookings: Bookings,
    tickets: Tickets,
    clients: Clients,
    finance: Finance,
    umrah: Arc<Umrah>,
    renderer: Arc<dyn DocumentRenderer>,
    // --- documents follow-ups (issue 8) ---
    deps: Deps,
}

impl Documents {
    /// The service over `deps`, opening sealed values with `keyring`, reading
    /// Umrah groups through `umrah` and rendering with `renderer`.
    pub fn new(
        deps: Deps,
        keyring: Arc<KeyRing>,
        umrah: Arc<Umrah>,
        renderer: Arc<dyn DocumentRenderer>,
    ) -> Self {
        Self {
            bookings: Bookings::new(deps.clone(), keyring.clone()),
            tickets: Tickets::new(deps.clone()),
            clients: Clients::new(deps.clone(), keyring),
            finance: Finance::new(deps.clone()),
            umrah,
            renderer,
            deps,
        }
    }

    /// The travel voucher of booking `id` as PDF.
    pub async fn voucher(
        &self,
        ctx: &Context,
        id: BookingId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let doc = self.voucher_document(ctx, id, branding, options).await?;
        self.renderer.render(&doc).await
    }

    /// The travel voucher of booking `id`: reference, travellers, services
    /// with their dates, flights with local times, hotels, emergency
    /// contact.
    pub async fn voucher_document(
        &self,
        ctx: &Context,
        id: BookingId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Document> {
        let booking = self.bookings.get(ctx, id).await?;
        let tickets = self.all_tickets(ctx, id).await?;
        let client = self.client_name(ctx, &booking).await?;
        let mut options = options.clone();
        if options.emergency_contact.is_none() {
            options.emergency_contact = self.emergency_contact(ctx).await?;
        }
        Ok(voucher(
            &booking, &client, &tickets, branding, &options, ctx,
        ))
    }

    /// The booking confirmation of booking `id` as PDF.
    pub async fn confirmation(
        &self,
        ctx: &Context,
        id: BookingId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let doc = self
            .confirmation_document(ctx, id, branding, options)
            .await?;
        self.renderer.render(&doc).await
    }

    /// The booking confirmation: what was booked, for whom, at what price.
    pub async fn confirmation_document(
        &self,
        ctx: &Context,
        id: BookingId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Document> {
        let booking = self.bookings.get(ctx, id).await?;
        let client = self.client_name(ctx, &booking).await?;
        confirmation(&booking, &client, branding, options, ctx)
    }

    /// Invoice `id` as PDF.
    pub async fn invoice(
        &self,
        ctx: &Context,
        id: InvoiceId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let doc = self.invoice_document(ctx, id, branding, options).await?;
        self.renderer.render(&doc).await
    }

    /// Invoice `id`: lines, taxes, totals, what is paid and what is open.
    pub async fn invoice_document(
        &self,
        ctx: &Context,
        id: InvoiceId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Document> {
        let invoice = self.finance.get_invoice(ctx, id).await?;
        let client = self.clients.get(ctx, invoice.client_id).await?;
        invoice_document(&invoice, &client.client.name.to_string(), branding, options)
    }

    /// A credit note of invoice `invoice_id` as PDF (e.g. right after
    /// [`Finance::credit`] returned it). The invoice is read, and so
    /// authorized, as for [`Documents::invoice`]; a note of another invoice
    /// is `Invalid`.
    pub async fn credit_note(
        &self,
        ctx: &Context,
        invoice_id: InvoiceId,
        note: &CreditNote,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let invoice = self.finance.get_invoice(ctx, invoice_id).await?;
        let doc = credit_note_document(&invoice, note, branding, options)?;
        self.renderer.render(&doc).await
    }

    /// The manifest of Umrah group `id` as PDF.
    pub async fn manifest(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let doc = self.manifest_document(ctx, id, branding, options).await?;
        self.renderer.render(&doc).await
    }

    /// The printable manifest of Umrah group `id`: one row per pilgrim with
    /// passport hints, expiry and visa status.
    pub async fn manifest_document(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Document> {
        let group = self.umrah.get_group(ctx, id).await?;
        let mut rows = Vec::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = self.umrah.list_pilgrims(ctx, id, page).await?;
            for view in batch.items {
                let p = view.pilgrim;
                rows.push(vec![
                    (rows.len() + 1).to_string(),
                    p.latin_name.as_str().to_owned(),
                    p.name.to_string(),
                    p.gender.to_string(),
                    date(p.date_of_birth),
                    p.nationality.to_string(),
                    p.passport.hint.clone(),
                    if view.passport_expires_too_soon {
                        format!("{} (too soon)", date(p.passport_expiry))
                    } else {
                        date(p.passport_expiry)
                    },
                    p.visa_status.to_string().replace('_', " "),
                ]);
            }
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let count = rows.len();
        Ok(Document {
            kind: DocumentKind::UmrahManifest,
            title: format!("Umrah group manifest — {}", group.name),
            language: "en".into(),
            branding,
            blocks: vec![
                Block::Fields(vec![
                    field("Group", group.name.to_string()),
                    field("Season", group.season.as_str()),
                    field("Departure", date(group.departure_date)),
                    field("Return", date(group.return_date)),
                    field("Status", group.status.to_string().replace('_', " ")),
                    field("Pilgrims", format!("{count} of {}", group.capacity)),
                ]),
                Block::Heading("Pilgrims".into()),
                Block::Table {
                    header: [
                        "#",
                        "Name (passport)",
                        "Name",
                        "Gender",
                        "Born",
                        "Nationality",
                        "Passport",
                        "Expires",
                        "Visa",
                    ]
                    .map(String::from)
                    .to_vec(),
                    rows,
                },
            ],
            page_size: options.page_size,
            footer: Some(format!(
                "{} · {} · printed {}",
                group.name,
                group.season.as_str(),
                ctx.now.format("%d %b %Y %H:%M UTC")
            )),
        })
    }

    // --- documents follow-ups (issue 8) ---
    /// Credit note `id` as PDF: its lines, taxes and totals in the
    /// invoice's currency, and the invoice it credits. Authorized as
    /// reading that invoice ([`Documents::invoice`]): another tenant's or an
    /// unseen branch's note is `NotFound`, a role that may not read
    /// invoices is `Forbidden`.
    pub async fn credit_note_pdf(
        &self,
        ctx: &Context,
        id: CreditNoteId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Vec<u8>> {
        let doc = self
            .credit_note_document_by_id(ctx, id, branding, options)
            .await?;
        self.renderer.render(&doc).await
    }

    /// Credit note `id` as a document (see [`Documents::credit_note_pdf`]).
    pub async fn credit_note_document_by_id(
        &self,
        ctx: &Context,
        id: CreditNoteId,
        branding: Branding,
        options: &DocumentOptions,
    ) -> Result<Document> {
        let mut uow = self.deps.store.begin().await?;
        let note = uow
            .finance()
            .get_credit_note(ctx.principal.tenant_id(), id)
            .await?
            .filter(|n| ctx.principal.sees_branch(n.branch_id));
        uow.rollback().await?;
        let note = note.ok_or(Error::not_found("credit note"))?;
        // Reading the invoice authorizes the note (same record, same rules).
        let invoice = self.finance.get_invoice(ctx, note.invoice_id).await?;
        let mut doc = credit_note_document(&invoice, &note, branding, options)?;
        if let Ok(client) = self.clients.get(ctx, invoice.client_id).await
            && let Some(Block::Fields(fields)) = doc.blocks.first_mut()
        {
            fields.push(field("Bill to", client.client.name.to_string()));
        }
        Ok(doc)
    }

    /// The tenant's emergency contact from its branding settings, printed
    /// on every voucher (any principal of the tenant may read it).
    async fn emergency_contact(&self, ctx: &Context) -> Result<Option<String>> {
        let mut uow = self.deps.store.begin().await?;
        let settings = uow.files().branding(ctx.principal.tenant_id()).await?;
        uow.rollback().await?;
        Ok(settings.emergency_contact.map(|c| c.line()))
    }

    async fn all_tickets(&self, ctx: &Context, id: BookingId) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = self.tickets.list(ctx, id, page).await?;
            out.extend(batch.items);
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    async fn client_name(&self, ctx: &Context, booking: &Booking) -> Result<String> {
        match self.clients.get(ctx, booking.client_id).await {
            Ok(details) => Ok(details.client.name.to_string()),
            // The booking is visible but its client is kept by a branch the
            // caller does not see: the voucher does without the name.
            Err(Error::NotFound { .. }) => Ok(String::new()),
            Err(e) => Err(e),
        }
    }
}

fn field(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_owned(), value.into())
}

/// `05 Mar 2026`.
fn date(d: NaiveDate) -> String {
    d.format("%d %b %Y").to_string()
}

/// `05 Mar 2026 14:30 (Asia/Riyadh)`: the local time where it happens.
fn local_time(t: &LocalTime) -> String {
    format!("{} ({})", t.local.format("%d %b %Y %H:%M"), t.zone.name())
}

/// An amount with its currency's decimals and thousands grouped:
/// `12,500.00 SAR`, `-1,000 JPY`.
pub fn format_money(m: Money) -> String {
    let plain = m.to_decimal_string();
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f} {}", m.currency()),
        None => format!("{sign}{grouped} {}", m.currency()),
    }
}

/// `15%`, `7.5%`, `0%`.
fn tax_rate(rate: TaxRate) -> String {
    let bp = rate.basis_points();
    let whole = bp / 100;
    let frac = bp % 100;
    if frac == 0 {
        format!("{whole}%")
    } else {
        let frac = format!("{frac:02}");
        format!("{whole}.{}%", frac.trim_end_matches('0'))
    }
}

fn dates(from: Option<NaiveDate>, to: Option<NaiveDate>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if a == b => date(a),
        (Some(a), Some(b)) => format!("{} – {}", date(a), date(b)),
        (Some(a), None) => date(a),
        (None, Some(b)) => format!("until {}", date(b)),
        (None, None) => String::new(),
    }
}

fn travellers_table(booking: &Booking) -> Block {
    Block::Table {
        header: ["#", "Name", "Name (passport)", "Born"]
            .map(String::from)
            .to_vec(),
        rows: booking
            .travellers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    (i + 1).to_string(),
                    t.name.to_string(),
                    t.latin_name.as_str().to_owned(),
                    date(t.date_of_birth),
                ]
            })
            .collect(),
    }
}

fn booking_fields(booking: &Booking, client: &str, ctx: &Context) -> Vec<(String, String)> {
    let mut fields = vec![
        field("Booking reference", booking.reference.to_string()),
        field("Status", booking.status.as_str()),
    ];
    if !client.is_empty() {
        fields.push(field("Client", client));
    }
    fields.push(field("Booked on", date(booking.created_at.date_naive())));
    fields.push(field(
        "Issued",
        ctx.now.format("%d %b %Y %H:%M UTC").to_string(),
    ));
    fields
}

fn voucher(
    booking: &Booking,
    client: &str,
    tickets: &[Ticket],
    branding: Branding,
    options: &DocumentOptions,
    ctx: &Context,
) -> Document {
    let mut blocks = vec![
        Block::Fields(booking_fields(booking, client, ctx)),
        Block::Heading("Travellers".into()),
        travellers_table(booking),
    ];
    if !booking.items.is_empty() {
        blocks.push(Block::Heading("Services".into()));
        blocks.push(Block::Table {
            header: ["Service", "Description", "Supplier", "Dates"]
                .map(String::from)
                .to_vec(),
            rows: booking
                .items
                .iter()
                .map(|item| {
                    vec![
                        kind_name(item.kind).to_owned(),
                        item.description.clone(),
                        item.supplier_name.clone().unwrap_or_default(),
                        dates(item.starts_on, item.ends_on),
                    ]
                })
                .collect(),
        });
    }
    let hotels: Vec<Vec<String>> = booking
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Hotel)
        .map(|i| {
            let nights = match (i.starts_on, i.ends_on) {
                (Some(a), Some(b)) => (b - a).num_days().to_string(),
                _ => String::new(),
            };
            vec![
                i.description.clone(),
                i.starts_on.map(date).unwrap_or_default(),
                i.ends_on.map(date).unwrap_or_default(),
                nights,
            ]
        })
        .collect();
    if !hotels.is_empty() {
        blocks.push(Block::Heading("Hotels".into()));
        blocks.push(Block::Table {
            header: ["Hotel", "Check-in", "Check-out", "Nights"]
                .map(String::from)
                .to_vec(),
            rows: hotels,
        });
    }
    let live: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.status.as_str() == "issued")
        .collect();
    if !live.is_empty() {
        blocks.push(Block::Heading("Flights".into()));
        let mut rows = Vec::new();
        for t in &live {
            let passenger = booking
                .travellers
                .iter()
                .find(|tr| tr.id == t.passenger_id)
                .map(|tr| tr.latin_name.as_str().to_owned())
                .unwrap_or_default();
            for s in &t.segments {
                rows.push(vec![
                    s.flight_number.to_string(),
                    format!("{} → {}", s.from, s.to),
                    local_time(&s.departure),
                    local_time(&s.arrival),
                    passenger.clone(),
                    format!("{} / {}", t.pnr, t.ticket_number),
                ]);
            }
        }
        blocks.push(Block::Table {
            header: [
                "Flight",
                "Route",
                "Departure (local)",
                "Arrival (local)",
                "Passenger",
                "PNR / ticket",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
    blocks.push(Block::Heading("Emergency contact".into()));
    let contact = match &options.emergency_contact {
        Some(c) => c.clone(),
        None => {
            let mut parts = vec![branding.agency_name.clone()];
            parts.extend(branding.address.iter().cloned());
            parts.retain(|p| !p.trim().is_empty());
            parts.join(", ")
        }
    };
    blocks.push(Block::Paragraph(contact));
    blocks.push(Block::Paragraph(
        "Please carry this voucher with your passport and show it at check-in. \
         Times are local times at the place of departure or arrival."
            .into(),
    ));
    Document {
        kind: DocumentKind::Voucher,
        title: "Travel voucher".into(),
        language: "en".into(),
        branding,
        blocks,
        page_size: options.page_size,
        footer: Some(format!(
            "Voucher {} · issued {}",
            booking.reference,
            ctx.now.format("%d %b %Y")
        )),
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Package => "Package",
        ItemKind::Flight => "Flight",
        ItemKind::Hotel => "Hotel",
        ItemKind::Visa => "Visa",
        ItemKind::Transfer => "Transfer",
        ItemKind::Other => "Other",
    }
}

fn confirmation(
    booking: &Booking,
    client: &str,
    branding: Branding,
    options: &DocumentOptions,
    ctx: &Context,
) -> Result<Document> {
    let mut blocks = vec![
        Block::Paragraph("Thank you for your booking. This confirms the services below.".into()),
        Block::Fields(booking_fields(booking, client, ctx)),
        Block::Heading("Travellers".into()),
        travellers_table(booking),
    ];
    if !booking.items.is_empty() {
        blocks.push(Block::Heading("Services".into()));
        blocks.push(Block::Table {
            header: ["Service", "Description", "Dates", "Price"]
                .map(String::from)
                .to_vec(),
            rows: booking
                .items
                .iter()
                .map(|item| {
                    vec![
                        kind_name(item.kind).to_owned(),
                        item.description.clone(),
                        dates(item.starts_on, item.ends_on),
                        format_money(item.sell_price),
                    ]
                })
                .collect(),
        });
        blocks.push(Block::Fields(
            booking
                .totals()?
                .into_iter()
                .map(|t| field(&format!("Total ({})", t.currency), format_money(t.sell)))
                .collect(),
        ));
    }
    Ok(Document {
        kind: DocumentKind::BookingConfirmation,
        title: "Booking confirmation".into(),
        language: "en".into(),
        branding,
        blocks,
        page_size: options.page_size,
        footer: Some(format!(
            "Booking {} · {}",
            booking.reference,
            ctx.now.format("%d %b %Y")
        )),
    })
}

fn invoice_document(
    invoice: &Invoice,
    client: &str,
    branding: Branding,
    options: &DocumentOptions,
) -> Result<Document> {
    let number = invoice
        .number()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "draft (no number yet)".into());
    let mut fields = vec![
        field("Invoice", number.clone()),
        field("Status", invoice_status(invoice.status)),
        field("Bill to", client),
        field("Currency", invoice.currency.code()),
    ];
    if let Some(issued) = invoice.issued_at {
        fields.insert(1, field("Date", date(issued.date_naive())));
    }
    let mut rows = Vec::with_capacity(invoice.lines.len());
    for line in &invoice.lines {
        let amounts = line.amounts()?;
        rows.push(vec![
            line.description.clone(),
            line.quantity.to_string(),
            format_money(line.unit_price),
            tax_rate(line.tax_rate),
            format_money(amounts.net),
            format_money(amounts.tax),
            format_money(amounts.gross),
        ]);
    }
    let mut totals = vec![
        field("Net", format_money(invoice.net)),
        field("Tax", format_money(invoice.tax)),
        field("Total", format_money(invoice.total)),
    ];
    if !invoice.paid.is_zero() {
        totals.push(field("Paid", format_money(invoice.paid)));
    }
    if !invoice.credited.is_zero() {
        totals.push(field("Credited", format_money(invoice.credited)));
    }
    if !invoice.refunded.is_zero() {
        totals.push(field("Refunded", format_money(invoice.refunded)));
    }
    if invoice.status != InvoiceStatus::Void {
        totals.push(field("Balance due", format_money(invoice.open_amount()?)));
    }
    Ok(Document {
        kind: DocumentKind::Invoice,
        title: if invoice.status == InvoiceStatus::Void {
            "Invoice (void)".into()
        } else {
            "Invoice".into()
        },
        language: "en".into(),
        branding,
        blocks: vec![
            Block::Fields(fields),
            Block::Heading("Lines".into()),
            Block::Table {
                header: [
                    "Description",
                    "Qty",
                    "Unit price",
                    "Tax rate",
                    "Net",
                    "Tax",
                    "Total",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            },
            Block::Fields(totals),
        ],
        page_size: options.page_size,
        footer: Some(format!("Invoice {number}")),
    })
}

fn invoice_status(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Draft => "draft",
        InvoiceStatus::Issued => "issued",
        InvoiceStatus::PartiallyPaid => "partially paid",
        InvoiceStatus::Paid => "paid",
        InvoiceStatus::Void => "void",
    }
}

/// The credit note `note` of `invoice`, as a document.
pub fn credit_note_document(
    invoice: &Invoice,
    note: &CreditNote,
    branding: Branding,
    options: &DocumentOptions,
) -> Result<Document> {
    if note.invoice_id != invoice.id || note.tenant_id != invoice.tenant_id {
        return Err(Error::invalid("credit_note", "belongs to another invoice"));
    }
    let number = InvoiceNumber {
        series: note.series.clone(),
        number: note.number,
    }
    .to_string();
    let against = invoice
        .number()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "draft".into());
    let total = note.total()?;
    let mut header = vec![
        field("Credit note", number.clone()),
        field("Date", date(note.created_at.date_naive())),
        field("Against invoice", against.clone()),
    ];
    if let Some(issued) = invoice.issued_at {
        header.push(field("Invoice date", date(issued.date_naive())));
    }
    header.push(field("Currency", invoice.currency.code()));
    // The rate is not stored with the note: print it when it is exact.
    let rate = if note.net.is_zero() {
        String::new()
    } else {
        let bp = i128::from(note.tax.minor_units()) * 10_000 / i128::from(note.net.minor_units());
        u32::try_from(bp)
            .ok()
            .and_then(|bp| TaxRate::from_basis_points(bp).ok())
            .filter(|r| r.tax_on(note.net).ok() == Some(note.tax))
            .map(tax_rate)
            .unwrap_or_default()
    };
    let mut invoice_totals = vec![
        field("Invoice total", format_money(invoice.total)),
        field("Credited in all", format_money(invoice.credited)),
    ];
    if invoice.status != InvoiceStatus::Void {
        invoice_totals.push(field("Balance due", format_money(invoice.open_amount()?)));
    }
    Ok(Document {
        kind: DocumentKind::CreditNote,
        title: "Credit note".into(),
        language: "en".into(),
        branding,
        blocks: vec![
            Block::Fields(header),
            Block::Heading("Lines".into()),
            Block::Table {
                header: ["Description", "Tax rate", "Net", "Tax", "Total"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![vec![
                    note.reason.clone(),
                    rate,
                    format_money(note.net),
                    format_money(note.tax),
                    format_money(total),
                ]],
            },
            Block::Fields(vec![
                field("Net", format_money(note.net)),
                field("Tax", format_money(note.tax)),
                field("Total credited", format_money(total)),
            ]),
            Block::Heading(format!("Invoice {against}")),
            Block::Fields(invoice_totals),
        ],
        page_size: options.page_size,
        footer: Some(format!("Credit note {number} · invoice {against}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn money_is_grouped_with_the_currency_decimals() {
        let m = |minor, c| format_money(Money::from_minor(minor, c));
        assert_eq!(m(1_250_000, Currency::SAR), "12,500.00 SAR");
        assert_eq!(m(-100_000, Currency::JPY), "-100,000 JPY");
        assert_eq!(m(3_125, Currency::KWD), "3.125 KWD");
        assert_eq!(m(5, Currency::USD), "0.05 USD");
        assert_eq!(m(123_456_789, Currency::USD), "1,234,567.89 USD");
    }

    #[test]
    fn tax_rates_print_as_percentages() {
        let r = |bp| tax_rate(TaxRate::from_basis_points(bp).unwrap());
        assert_eq!(r(1500), "15%");
        assert_eq!(r(750), "7.5%");
        assert_eq!(r(0), "0%");
        assert_eq!(r(1), "0.01%");
    }
}
