//! Financial reports (issue 7): sales, receivables ageing, payments by
//! method, profit per booking and per branch, and tax per period.
//!
//! - **Scope.** Every report reads only the branches the viewer sees; the
//!   rows are filtered in the queries (the lists and ledger reads take the
//!   viewer's [`Scope`]). A `branch_id` parameter narrows it further; an
//!   unseen branch is `NotFound`.
//! - **Audit.** Every viewing appends `report.financial.viewed` with the
//!   report's name and parameters, committed before the rows are returned.
//! - **Rights.** Viewing needs R on financial reports (Finance, Admin, the
//!   owner); exporting (CSV) needs X (Finance and the owner: an Admin reads
//!   but does not export).
//! - **Shape.** A report is a table: named columns and rows of strings
//!   (amounts as exact decimals next to their currency), so JSON and CSV
//!   carry the same figures.
//! - **Profit** converts each booking's sell and cost sums per currency to
//!   the tenant's base currency with the exchange rate in force on the day
//!   the booking was made (half-even); a missing rate is a `Conflict` that
//!   names the pair and day, never a silent zero.
//! - **Tax** comes from the ledger's tax-payable account: tax on invoices
//!   issued in the period, less tax reversed by credit notes and voids
//!   posted in it, per month (UTC) and currency.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

use super::Finance;
use crate::audit::NewAuditEvent;
use crate::domain::finance::{Account, InvoiceStatus, Side};
use crate::domain::{BookingStatus, Context};
use crate::error::{Error, Result};
use crate::id::BranchId;
use crate::money::{Currency, Money};
use crate::policy::{Action, ResourceKind};
use crate::ports::{BookingFilter, InvoiceFilter, PageRequest, PaymentFilter, Scope, UnitOfWork};
use crate::service::bookings::authorize;

/// The reports there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Invoices issued in the period, per branch and currency.
    Sales,
    /// Open invoices by age (0–30, 31–60, 61–90, over 90 days), per client
    /// and currency.
    ReceivablesAgeing,
    /// Payments received in the period, per method and currency.
    PaymentsByMethod,
    /// Sell minus cost per booking, in the base currency.
    ProfitByBooking,
    /// Sell minus cost per branch, in the base currency.
    ProfitByBranch,
    /// Tax collected per month and currency.
    Tax,
}

impl ReportKind {
    /// Every report.
    pub const ALL: [ReportKind; 6] = [
        ReportKind::Sales,
        ReportKind::ReceivablesAgeing,
        ReportKind::PaymentsByMethod,
        ReportKind::ProfitByBooking,
        ReportKind::ProfitByBranch,
        ReportKind::Tax,
    ];

    /// The name in URLs and the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReportKind::Sales => "sales",
            ReportKind::ReceivablesAgeing => "receivables-ageing",
            ReportKind::PaymentsByMethod => "payments-by-method",
            ReportKind::ProfitByBooking => "profit-by-booking",
            ReportKind::ProfitByBranch => "profit-by-branch",
            ReportKind::Tax => "tax",
        }
    }

    /// The inverse of [`ReportKind::as_str`]; `NotFound` for another name.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or(Error::not_found("report"))
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRequest {
    /// Which report.
    pub kind: ReportKind,
    /// The period's start (inclusive); the beginning of time when absent.
    pub from: Option<DateTime<Utc>>,
    /// The period's end (exclusive); now when absent. Ageing counts days up
    /// to it.
    pub to: Option<DateTime<Utc>>,
    /// Only this branch (within the viewer's scope).
    pub branch_id: Option<BranchId>,
    /// Whether it is exported (CSV): needs X rather than R.
    pub export: bool,
}

/// A report: named columns and rows of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Which report.
    pub kind: ReportKind,
    /// The column names.
    pub columns: Vec<&'static str>,
    /// The rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

fn amount(m: Money) -> String {
    m.to_decimal_string()
}

/// Reads every page of a list (reports cover whole periods).
macro_rules! all_pages {
    ($uow:expr, $method:ident, $scope:expr, $filter:expr) => {{
        let mut out = Vec::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let got = $uow.finance().$method($scope, $filter, page).await?;
            out.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        out
    }};
}

/// Sums keyed by `K`, each a row of money columns in one currency.
struct Sums<K: Ord> {
    width: usize,
    rows: BTreeMap<(K, Currency), (u64, Vec<Money>)>,
}

impl<K: Ord> Sums<K> {
    fn new(width: usize) -> Self {
        Self {
            width,
            rows: BTreeMap::new(),
        }
    }

    fn add(&mut self, key: K, currency: Currency, values: &[Money]) -> Result<()> {
        let width = self.width;
        let (count, sums) = self
            .rows
            .entry((key, currency))
            .or_insert_with(|| (0, vec![Money::zero(currency); width]));
        *count += 1;
        for (sum, v) in sums.iter_mut().zip(values) {
            *sum = sum.checked_add(*v)?;
        }
        Ok(())
    }
}

impl Finance {
    /// Builds a report for the viewer and records the viewing in the audit
    /// log (`report.financial.viewed`).
    pub async fn report(&self, ctx: &Context, request: ReportRequest) -> Result<Report> {
        let resource =
            super::lists::list_resource(ctx, ResourceKind::FinancialReport, request.branch_id);
        let action = if request.export {
            Action::Export
        } else {
            Action::Read
        };
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &resource, None).await?;
        super::lists::check_range(request.from, request.to)?;
        let scope = Scope::of(&ctx.principal);
        // No end means "up to now, whatever was recorded"; ageing counts
        // days up to the end, or up to now.
        let to = request.to;
        let report = match request.kind {
            ReportKind::Sales => sales(&mut *uow, &scope, &request, to).await?,
            ReportKind::ReceivablesAgeing => {
                ageing(&mut *uow, &scope, &request, to.unwrap_or(ctx.now)).await?
            }
            ReportKind::PaymentsByMethod => by_method(&mut *uow, &scope, &request, to).await?,
            ReportKind::ProfitByBooking | ReportKind::ProfitByBranch => {
                profit(&mut *uow, &scope, &request, to).await?
            }
            ReportKind::Tax => tax(&mut *uow, &scope, &request, to).await?,
        };
        let mut event =
            NewAuditEvent::new(ctx, "report.financial.viewed", "financial report", None)
                .with_change(
                    None,
                    Some(json!({
                        "report": request.kind.as_str(),
                        "from": request.from,
                        "to": request.to,
                        "branch_id": request.branch_id,
                        "format": if request.export { "csv" } else { "json" },
                        "rows": report.rows.len(),
                    })),
                );
        if let Some(branch) = request.branch_id {
            event = event.in_branch(branch);
        }
        uow.audit().append(event).await?;
        uow.commit().await?;
        Ok(report)
    }
}

fn in_branch(request: &ReportRequest, branch: BranchId) -> bool {
    request.branch_id.is_none_or(|b| b == branch)
}

async fn sales(
    uow: &mut dyn UnitOfWork,
    scope: &Scope,
    request: &ReportRequest,
    to: Option<DateTime<Utc>>,
) -> Result<Report> {
    let filter = InvoiceFilter {
        branch_id: request.branch_id,
        issued_from: request.from,
        issued_to: to,
        ..InvoiceFilter::default()
    };
    let invoices = all_pages!(uow, list_invoices, scope, &filter);
    let mut sums = Sums::new(4);
    for i in invoices.iter().filter(|i| i.status != InvoiceStatus::Void) {
        sums.add(
            i.branch_id,
            i.currency,
            &[i.net, i.tax, i.total, i.credited],
        )?;
    }
    Ok(Report {
        kind: request.kind,
        columns: vec![
            "branch_id",
            "currency",
            "invoices",
            "net",
            "tax",
            "total",
            "credited",
        ],
        rows: sums
            .rows
            .into_iter()
            .map(|((branch, cur), (n, v))| {
                let mut row = vec![branch.to_string(), cur.code().to_owned(), n.to_string()];
                row.extend(v.into_iter().map(amount));
                row
            })
            .collect(),
    })
}

async fn ageing(
    uow: &mut dyn UnitOfWork,
    scope: &Scope,
    request: &ReportRequest,
    as_of: DateTime<Utc>,
) -> Result<Report> {
    let filter = InvoiceFilter {
        open_only: true,
        branch_id: request.branch_id,
        issued_from: request.from,
        issued_to: request.to,
        ..InvoiceFilter::default()
    };
    let invoices = all_pages!(uow, list_invoices, scope, &filter);
    let mut sums = Sums::new(5);
    for i in &invoices {
        let due = i.open_amount()?;
        let days = (as_of - i.issued_at.unwrap_or(i.created_at)).num_days();
        let zero = Money::zero(i.currency);
        let mut buckets = [zero; 5];
        let bucket = match days {
            ..=30 => 0,
            31..=60 => 1,
            61..=90 => 2,
            _ => 3,
        };
        buckets[bucket] = due;
        buckets[4] = due;
        sums.add(i.client_id, i.currency, &buckets)?;
    }
    Ok(Report {
        kind: request.kind,
        columns: vec![
            "client_id",
            "currency",
            "invoices",
            "days_0_30",
            "days_31_60",
            "days_61_90",
            "days_over_90",
            "total_due",
        ],
        rows: sums
            .rows
            .into_iter()
            .map(|((client, cur), (n, v))| {
                let mut row = vec![client.to_string(), cur.code().to_owned(), n.to_string()];
                row.extend(v.into_iter().map(amount));
                row
            })
            .collect(),
    })
}

async fn by_method(
    uow: &mut dyn UnitOfWork,
    scope: &Scope,
    request: &ReportRequest,
    to: Option<DateTime<Utc>>,
) -> Result<Report> {
    let filter = PaymentFilter {
        branch_id: request.branch_id,
        from: request.from,
        to,
        ..PaymentFilter::default()
    };
    let payments = all_pages!(uow, list_payments, scope, &filter);
    let mut sums = Sums::new(3);
    for p in &payments {
        let net = p.amount.checked_sub(p.refunded)?;
        sums.add(
            p.method.as_str(),
            p.amount.currency(),
            &[p.amount, p.refunded, net],
        )?;
    }
    Ok(Report {
        kind: request.kind,
        columns: vec![
            "method", "currency", "payments", "received", "refunded", "net",
        ],
        rows: sums
            .rows
            .into_iter()
            .map(|((method, cur), (n, v))| {
                let mut row = vec![method.to_owned(), cur.code().to_owned(), n.to_string()];
                row.extend(v.into_iter().map(amount));
                row
            })
            .collect(),
    })
}

async fn profit(
    uow: &mut dyn UnitOfWork,
    scope: &Scope,
    request: &ReportRequest,
    to: Option<DateTime<Utc>>,
) -> Result<Report> {
    let tenant = uow
        .tenants()
        .get(scope.tenant_id)
        .await?
        .ok_or(Error::not_found("tenant"))?;
    let base = tenant.base_currency;
    let filter = BookingFilter {
        branch_id: request.branch_id,
        ..BookingFilter::default()
    };
    let mut bookings = Vec::new();
    let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
    loop {
        let got = uow.bookings().list(scope, filter, page).await?;
        bookings.extend(got.items.into_iter().filter(|b| {
            !matches!(b.status, BookingStatus::Draft | BookingStatus::Cancelled)
                && request.from.is_none_or(|f| b.created_at >= f)
                && to.is_none_or(|t| b.created_at < t)
                && in_branch(request, b.branch_id)
        }));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let zero = Money::zero(base);
    let mut per_booking = Vec::new();
    let mut per_branch: BTreeMap<BranchId, (u64, Money, Money)> = BTreeMap::new();
    for b in &bookings {
        let day = b.created_at.date_naive();
        let (mut sell, mut cost) = (zero, zero);
        for t in b.totals()? {
            let (s, c) = if t.currency == base {
                (t.sell, t.cost)
            } else {
                let rate = uow
                    .finance()
                    .exchange_rate_on(scope.tenant_id, t.currency, base, day)
                    .await?
                    .ok_or_else(|| {
                        Error::conflict(format!(
                            "no exchange rate {} to {} on or before {day}: enter one to report profit in {}",
                            t.currency.code(),
                            base.code(),
                            base.code()
                        ))
                    })?;
                (rate.convert(t.sell)?.to, rate.convert(t.cost)?.to)
            };
            sell = sell.checked_add(s)?;
            cost = cost.checked_add(c)?;
        }
        let margin = sell.checked_sub(cost)?;
        per_booking.push(vec![
            b.id.to_string(),
            b.reference.to_string(),
            b.branch_id.to_string(),
            base.code().to_owned(),
            amount(sell),
            amount(cost),
            amount(margin),
        ]);
        let e = per_branch.entry(b.branch_id).or_insert((0, zero, zero));
        e.0 += 1;
        e.1 = e.1.checked_add(sell)?;
        e.2 = e.2.checked_add(cost)?;
    }
    Ok(match request.kind {
        ReportKind::ProfitByBooking => Report {
            kind: request.kind,
            columns: vec![
                "booking_id",
                "reference",
                "branch_id",
                "currency",
                "sell",
                "cost",
                "profit",
            ],
            rows: per_booking,
        },
        _ => Report {
            kind: request.kind,
            columns: vec![
                "branch_id",
                "currency",
                "bookings",
                "sell",
                "cost",
                "profit",
            ],
            rows: per_branch
                .into_iter()
                .map(|(branch, (n, sell, cost))| {
                    Ok(vec![
                        branch.to_string(),
                        base.code().to_owned(),
                        n.to_string(),
                        amount(sell),
                        amount(cost),
                        amount(sell.checked_sub(cost)?),
                    ])
                })
                .collect::<Result<Vec<_>>>()?,
        },
    })
}

async fn tax(
    uow: &mut dyn UnitOfWork,
    scope: &Scope,
    request: &ReportRequest,
    to: Option<DateTime<Utc>>,
) -> Result<Report> {
    let lines = uow
        .finance()
        .posted_lines(scope, Account::TaxPayable, request.from, to)
        .await?;
    let mut sums: BTreeMap<(String, Currency), (Money, Money)> = BTreeMap::new();
    for l in lines.iter().filter(|l| in_branch(request, l.branch_id)) {
        let cur = l.line.amount.currency();
        let period = format!("{:04}-{:02}", l.posted_at.year(), l.posted_at.month());
        let e = sums
            .entry((period, cur))
            .or_insert((Money::zero(cur), Money::zero(cur)));
        match l.line.side {
            Side::Credit => e.0 = e.0.checked_add(l.line.amount)?,
            Side::Debit => e.1 = e.1.checked_add(l.line.amount)?,
        }
    }
    Ok(Report {
        kind: request.kind,
        columns: vec![
            "period",
            "currency",
            "tax_invoiced",
            "tax_reversed",
            "tax_net",
        ],
        rows: sums
            .into_iter()
            .map(|((period, cur), (invoiced, reversed))| {
                Ok(vec![
                    period,
                    cur.code().to_owned(),
                    amount(invoiced),
                    amount(reversed),
                    amount(invoiced.checked_sub(reversed)?),
                ])
            })
            .collect::<Result<Vec<_>>>()?,
    })
}
