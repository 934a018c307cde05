//! The outbox worker's attachments (issue 9): vouchers and invoices as PDF,
//! bookings' calendars as `.ics`, rendered when a message is sent.
//!
//! The worker acts for each message's tenant as the system job `outbox`:
//! the same services the HTTP handlers call, with the tenant's branding,
//! so that an attached voucher is the one the agency would download.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use tms_adapters::ics::{Organizer, booking_calendar};
use tms_core::Result;
use tms_core::domain::{Context, Principal};
use tms_core::id::TenantId;
use tms_core::ports::{AttachmentRef, BlobStore, DocumentRenderer, PageRequest};
use tms_core::security::keyring::KeyRing;
use tms_core::service::bookings::Bookings;
use tms_core::service::documents::{DocumentOptions, Documents};
use tms_core::service::files::Files;
use tms_core::service::messaging::{AttachmentSource, RenderedAttachment};
use tms_core::service::tenancy::Deps;
use tms_core::service::tickets::Tickets;
use tms_core::service::umrah::Umrah;

/// Renders attachments with the server's services; see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct ServerAttachments {
    deps: Deps,
    keyring: Arc<KeyRing>,
    files: Arc<Files>,
    renderer: Arc<dyn DocumentRenderer>,
    organizer_email: Option<String>,
}

impl ServerAttachments {
    /// Attachments over the store in `deps`, opening passports with
    /// `keyring`, reading logos from `blobs`, rendering with `renderer`;
    /// `organizer_email` is the calendar organizer's address (the
    /// installation's sender).
    pub fn new(
        deps: Deps,
        keyring: Arc<KeyRing>,
        blobs: Arc<dyn BlobStore>,
        renderer: Arc<dyn DocumentRenderer>,
        organizer_email: Option<String>,
    ) -> Self {
        let files = Arc::new(Files::new(deps.clone(), blobs));
        Self {
            deps,
            keyring,
            files,
            renderer,
            organizer_email,
        }
    }

    fn documents(&self) -> Documents {
        let umrah = Arc::new(Umrah::new(self.deps.clone(), self.keyring.clone()));
        Documents::new(
            self.deps.clone(),
            self.keyring.clone(),
            umrah,
            self.renderer.clone(),
        )
    }
}

#[async_trait]
impl AttachmentSource for ServerAttachments {
    async fn render(
        &self,
        tenant: TenantId,
        attachment: &AttachmentRef,
    ) -> Result<RenderedAttachment> {
        let ctx = Context::new(Principal::system(tenant, "outbox"), Utc::now());
        match *attachment {
            AttachmentRef::BookingVoucher { booking_id } => {
                let options = DocumentOptions::default();
                let branding = self.files.branding(&ctx).await?;
                let bookings = Bookings::new(self.deps.clone(), self.keyring.clone());
                let reference = bookings.get(&ctx, booking_id).await?.reference;
                let bytes = self
                    .documents()
                    .voucher(&ctx, booking_id, branding, &options)
                    .await?;
                Ok(RenderedAttachment {
                    file_name: format!("voucher-{reference}.pdf"),
                    content_type: "application/pdf".to_owned(),
                    bytes,
                })
            }
            AttachmentRef::BookingCalendar { booking_id } => {
                let booking = Bookings::new(self.deps.clone(), self.keyring.clone())
                    .get(&ctx, booking_id)
                    .await?;
                let service = Tickets::new(self.deps.clone());
                let mut tickets = Vec::new();
                let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
                loop {
                    let found = service.list(&ctx, booking_id, page).await?;
                    tickets.extend(found.items);
                    match found.next {
                        Some(next) => {
                            page = PageRequest::new(
                                Some(PageRequest::MAX_LIMIT),
                                Some(&next.encode()),
                            )?;
                        }
                        None => break,
                    }
                }
                let organizer = Organizer {
                    name: self.files.agency_name(&ctx).await?,
                    email: self.organizer_email.clone(),
                };
                let text = booking_calendar(&booking, &tickets, &organizer);
                // The method travels in the content type too, as RFC 6047
                // asks, so that mail readers offer to update the calendar.
                let method = if text.contains("\r\nMETHOD:CANCEL\r\n") {
                    "CANCEL"
                } else {
                    "PUBLISH"
                };
                Ok(RenderedAttachment {
                    file_name: format!("{}.ics", booking.reference),
                    content_type: format!("text/calendar; charset=utf-8; method={method}"),
                    bytes: text.into_bytes(),
                })
            }
            AttachmentRef::InvoicePdf { invoice_id } => {
                let branding = self.files.branding(&ctx).await?;
                let documents = self.documents();
                let document = documents
                    .invoice_document(&ctx, invoice_id, branding, &DocumentOptions::default())
                    .await?;
                let bytes = self.renderer.render(&document).await?;
                let name = document
                    .title
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>();
                Ok(RenderedAttachment {
                    file_name: format!("{}.pdf", if name.is_empty() { "invoice" } else { &name }),
                    content_type: "application/pdf".to_owned(),
                    bytes,
                })
            }
        }
    }
}
