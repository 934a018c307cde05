//! Bookings: the reference, the state machine, travellers and items.
//!
//! # State machine
//!
//! ```text
//!  draft ──► pending ──► confirmed ──► ticketed ──► completed
//!    │          │            │             │
//!    └──────────┴────────────┴─────────────┴──► cancelled
//! ```
//!
//! - `ticketed` means the travel documents are issued (airline tickets,
//!   vouchers, visas): "ticketed / issued" of the issue.
//! - `cancelled` is reachable from every state but `completed` (travel that
//!   took place is not cancelled; it is refunded, which is finance's job),
//!   and is final, like `completed`.
//! - No state moves backwards. Anything else is a `Conflict` naming the
//!   states that are allowed from the current one.
//!
//! A booking's package places are taken when it is created and given back
//! when it is cancelled (or a draft deleted).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};

use crate::domain::{LatinName, Name, PassportNumber};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BookingId, BranchId, ClientId, PackageId, TenantId, TravellerId, UserId};
use crate::money::{Currency, Money};

/// The human-friendly reference of a booking, unique per tenant:
/// `BK-{year}-{number}`, the number zero-padded to six digits (more when it
/// outgrows them). Numbers run gap-free per tenant and year.
///
/// ```
/// use tms_core::domain::BookingReference;
/// let r = BookingReference::new(2026, 123).unwrap();
/// assert_eq!(r.to_string(), "BK-2026-000123");
/// assert_eq!(BookingReference::parse("bk-2026-000123").unwrap(), r);
/// assert!(BookingReference::parse("BK-2026-0").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookingReference {
    year: i32,
    number: u64,
}

impl BookingReference {
    /// The reference of booking `number` (from 1) of `year`.
    pub fn new(year: i32, number: u64) -> Result<Self> {
        if !(2000..=9999).contains(&year) || number == 0 || number > 999_999_999 {
            return Err(Error::invalid("reference", "is not a booking reference"));
        }
        Ok(Self { year, number })
    }

    /// Parses `BK-YYYY-NNNNNN` (case-insensitive prefix).
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = || Error::invalid("reference", "must look like BK-2026-000123");
        let raw = raw.trim();
        let rest = raw
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("BK-"))
            .and_then(|_| raw.get(3..))
            .ok_or_else(invalid)?;
        let (year, number) = rest.split_once('-').ok_or_else(invalid)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || number.len() < 6 || !digits(number) {
            return Err(invalid());
        }
        let year = year.parse().map_err(|_| invalid())?;
        let number = number.parse().map_err(|_| invalid())?;
        Self::new(year, number).map_err(|_| invalid())
    }

    /// The year.
    pub const fn year(&self) -> i32 {
        self.year
    }

    /// The number within the year.
    pub const fn number(&self) -> u64 {
        self.number
    }
}

impl fmt::Display for BookingReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BK-{}-{:06}", self.year, self.number)
    }
}

impl fmt::Debug for BookingReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for BookingReference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a booking is in its life (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Being put together; may be deleted freely.
    Draft,
    /// Submitted, waiting for suppliers' confirmation.
    Pending,
    /// Confirmed by the suppliers.
    Confirmed,
    /// Travel documents issued (tickets, vouchers, visas).
    Ticketed,
    /// Travel done. Final.
    Completed,
    /// Cancelled; its places are given back. Final.
    Cancelled,
}

impl BookingStatus {
    /// Every status.
    pub const ALL: [BookingStatus; 6] = [
        BookingStatus::Draft,
        BookingStatus::Pending,
        BookingStatus::Confirmed,
        BookingStatus::Ticketed,
        BookingStatus::Completed,
        BookingStatus::Cancelled,
    ];

    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Draft => "draft",
            BookingStatus::Pending => "pending",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Ticketed => "ticketed",
            BookingStatus::Completed => "completed",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`BookingStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    "must be one of draft, pending, confirmed, ticketed, completed, cancelled",
                )
            })
    }

    /// The states this one may move to.
    pub const fn next(self) -> &'static [BookingStatus] {
        use BookingStatus::*;
        match self {
            Draft => &[Pending, Cancelled],
            Pending => &[Confirmed, Cancelled],
            Confirmed => &[Ticketed, Cancelled],
            Ticketed => &[Completed, Cancelled],
            Completed | Cancelled => &[],
        }
    }

    /// Whether moving to `to` is allowed.
    pub fn can_become(self, to: BookingStatus) -> bool {
        self.next().contains(&to)
    }

    /// `Ok` when moving to `to` is allowed, else a `Conflict` that says
    /// what is allowed instead.
    pub fn check_transition(self, to: BookingStatus) -> Result<()> {
        if self.can_become(to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.next().iter().map(|s| s.as_str()).collect();
        let allowed = if allowed.is_empty() {
            format!("a {} booking is final", self.as_str())
        } else {
            format!(
                "from {} it may become {}",
                self.as_str(),
                allowed.join(" or ")
            )
        };
        Err(Error::conflict(format!(
            "a {} booking cannot become {}: {allowed}",
            self.as_str(),
            to.as_str()
        )))
    }

    /// The audit action of moving into this state.
    pub const fn audit_action(self) -> &'static str {
        match self {
            BookingStatus::Draft => "booking.created",
            BookingStatus::Pending => "booking.submitted",
            BookingStatus::Confirmed => "booking.confirmed",
            BookingStatus::Ticketed => "booking.ticketed",
            BookingStatus::Completed => "booking.completed",
            BookingStatus::Cancelled => "booking.cancelled",
        }
    }

    /// Whether the booking still holds its package places.
    pub const fn holds_places(self) -> bool {
        !matches!(self, BookingStatus::Cancelled)
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person travelling on a booking.
#[derive(Clone, PartialEq, Eq)]
pub struct Traveller {
    /// Identity, kept across edits of the list (tickets refer to it).
    pub id: TravellerId,
    /// The name exactly as typed, in any script.
    pub name: Name,
    /// The name for tickets.
    pub latin_name: LatinName,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Passport number, if known (sealed at rest; never logged).
    pub passport: Option<PassportNumber>,
}

impl Traveller {
    /// The traveller as the audit log keeps it: the passport only as its
    /// last two characters.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "latin_name": self.latin_name,
            "date_of_birth": self.date_of_birth,
            "passport_number": self.passport.as_ref().map(mask_passport),
        })
    }
}

impl fmt::Debug for Traveller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: the id only.
        f.debug_struct("Traveller")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// `…67`: enough to tell two passports apart, not enough to use one.
pub fn mask_passport(number: &PassportNumber) -> String {
    let full = number.expose();
    format!(
        "…{}",
        full.get(full.len().saturating_sub(2)..).unwrap_or("")
    )
}

/// What a booking item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Places of a catalogue package.
    Package,
    /// A flight.
    Flight,
    /// A hotel stay.
    Hotel,
    /// A visa.
    Visa,
    /// A transfer.
    Transfer,
    /// Anything else.
    Other,
}

impl ItemKind {
    /// Every kind.
    pub const ALL: [ItemKind; 6] = [
        ItemKind::Package,
        ItemKind::Flight,
        ItemKind::Hotel,
        ItemKind::Visa,
        ItemKind::Transfer,
        ItemKind::Other,
    ];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemKind::Package => "package",
            ItemKind::Flight => "flight",
            ItemKind::Hotel => "hotel",
            ItemKind::Visa => "visa",
            ItemKind::Transfer => "transfer",
            ItemKind::Other => "other",
        }
    }

    /// Parses [`ItemKind::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or_else(|| {
                Error::invalid(
                    "kind",
                    "must be one of package, flight, hotel, visa, transfer, other",
                )
            })
    }
}

/// One thing sold on a booking.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookingItem {
    /// What it is.
    pub kind: ItemKind,
    /// What the client gets.
    pub description: String,
    /// Who supplies it.
    pub supplier_name: Option<String>,
    /// What the agency pays.
    pub supplier_cost: Money,
    /// What the client pays.
    pub sell_price: Money,
    /// For a package item: the package and how many places.
    pub package: Option<(PackageId, u32)>,
    /// First day, if dated.
    pub starts_on: Option<NaiveDate>,
    /// Last day, if dated.
    pub ends_on: Option<NaiveDate>,
}

impl BookingItem {
    /// Checks one item; `index` names it in errors (`items[2].places`).
    pub fn validate(&self, index: usize, errors: &mut FieldErrors) {
        let field = |name: &str| format!("items[{index}].{name}");
        let desc = self.description.trim();
        if desc.is_empty() || desc.chars().count() > 1000 || desc.chars().any(char::is_control) {
            errors.push(
                field("description"),
                "must have 1 to 1000 characters, no control characters",
            );
        }
        if let Some(supplier) = &self.supplier_name
            && (supplier.trim().is_empty()
                || supplier.chars().count() > 200
                || supplier.chars().any(char::is_control))
        {
            errors.push(field("supplier_name"), "must have 1 to 200 characters");
        }
        if self.supplier_cost.minor_units() < 0 {
            errors.push(field("supplier_cost"), "must not be negative");
        }
        if self.sell_price.minor_units() < 0 {
            errors.push(field("sell_price"), "must not be negative");
        }
        match (self.kind, self.package) {
            (ItemKind::Package, None) => {
                errors.push(field("package_id"), "is required for a package item")
            }
            (ItemKind::Package, Some((_, places))) if !(1..=1000).contains(&places) => {
                errors.push(field("places"), "must be between 1 and 1000")
            }
            (ItemKind::Package, Some(_)) => {}
            (_, Some(_)) => errors.push(field("package_id"), "is only for package items"),
            (_, None) => {}
        }
        if let (Some(start), Some(end)) = (self.starts_on, self.ends_on)
            && end < start
        {
            errors.push(field("ends_on"), "must not be before starts_on");
        }
    }
}

/// The sums of a booking in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CurrencyTotal {
    /// The currency.
    pub currency: Currency,
    /// What the client pays.
    pub sell: Money,
    /// What the agency pays suppliers.
    pub cost: Money,
}

/// A booking. `T` is how its travellers are held: [`Traveller`] in the
/// services, a sealed form in the store (see `ports::BookingRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking<T = Traveller> {
    /// Identity.
    pub id: BookingId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The branch that sold it.
    pub branch_id: BranchId,
    /// Whose booking it is.
    pub client_id: ClientId,
    /// Human-friendly reference.
    pub reference: BookingReference,
    /// Where it is in its life.
    pub status: BookingStatus,
    /// Who travels, in order.
    pub travellers: Vec<T>,
    /// What is sold, in order.
    pub items: Vec<BookingItem>,
    /// Who created it (none for the system).
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: every change bumps it.
    pub version: i64,
}

impl<T> Booking<T> {
    /// The same booking with its travellers converted by `f` (sealing or
    /// opening passports); the first error stops it.
    pub fn try_map_travellers<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Booking<U>> {
        let travellers = self
            .travellers
            .into_iter()
            .map(f)
            .collect::<Result<Vec<_>>>()?;
        Ok(Booking {
            id: self.id,
            tenant_id: self.tenant_id,
            branch_id: self.branch_id,
            client_id: self.client_id,
            reference: self.reference,
            status: self.status,
            travellers,
            items: self.items,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }

    /// Sell and cost sums per currency, ordered by currency code. Different
    /// currencies are never added together.
    pub fn totals(&self) -> Result<Vec<CurrencyTotal>> {
        let mut by: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
        for item in &self.items {
            for (money, is_sell) in [(item.sell_price, true), (item.supplier_cost, false)] {
                let currency = money.currency();
                let entry = by.entry(currency).or_insert(CurrencyTotal {
                    currency,
                    sell: Money::zero(currency),
                    cost: Money::zero(currency),
                });
                if is_sell {
                    entry.sell = entry.sell.checked_add(money)?;
                } else {
                    entry.cost = entry.cost.checked_add(money)?;
                }
            }
        }
        Ok(by.into_values().collect())
    }

    /// Places taken per package (several items may name one package).
    pub fn places_by_package(&self) -> BTreeMap<PackageId, u32> {
        places_by_package(&self.items)
    }
}

impl Booking<Traveller> {
    /// The booking as the audit log keeps it (passports masked).
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "reference": self.reference,
            "status": self.status,
            "client_id": self.client_id,
            "branch_id": self.branch_id,
            "travellers": self.travellers.iter().map(Traveller::audit_view).collect::<Vec<_>>(),
            "items": self.items,
        })
    }
}

/// Places taken per package by `items`, in package-id order (so that every
/// booking takes its package rows in the same order: no deadlocks).
pub fn places_by_package(items: &[BookingItem]) -> BTreeMap<PackageId, u32> {
    let mut places = BTreeMap::new();
    for (package, n) in items.iter().filter_map(|i| i.package) {
        let entry: &mut u32 = places.entry(package).or_insert(0);
        *entry = entry.saturating_add(n);
    }
    places
}

/// Checks a list of travellers: 1 to 50, ids unique.
pub fn validate_travellers(travellers: &[Traveller]) -> Result<()> {
    if travellers.is_empty() || travellers.len() > 50 {
        return Err(Error::invalid("travellers", "must list 1 to 50 travellers"));
    }
    let mut ids: Vec<_> = travellers.iter().map(|t| t.id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != travellers.len() {
        return Err(Error::invalid("travellers", "lists a traveller twice"));
    }
    Ok(())
}

/// The year a reference is numbered in, from the creation instant (UTC).
pub fn reference_year(at: DateTime<Utc>) -> i32 {
    at.year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_format_and_parse() {
        let r = BookingReference::new(2026, 1).unwrap();
        assert_eq!(r.to_string(), "BK-2026-000001");
        let big = BookingReference::new(2026, 1_234_567).unwrap();
        assert_eq!(big.to_string(), "BK-2026-1234567");
        assert_eq!(BookingReference::parse("BK-2026-1234567").unwrap(), big);
        for bad in [
            "",
            "BK-",
            "XX-2026-000001",
            "BK-26-000001",
            "BK-2026-00000a",
            "BK-2026-000000",
        ] {
            assert!(BookingReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        use BookingStatus::*;
        let allowed = [
            (Draft, Pending),
            (Draft, Cancelled),
            (Pending, Confirmed),
            (Pending, Cancelled),
            (Confirmed, Ticketed),
            (Confirmed, Cancelled),
            (Ticketed, Completed),
            (Ticketed, Cancelled),
        ];
        for from in BookingStatus::ALL {
            for to in BookingStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        let err = Draft.check_transition(Completed).unwrap_err();
        assert!(
            err.to_string().contains("may become pending or cancelled"),
            "{err}"
        );
        let err = Completed.check_transition(Cancelled).unwrap_err();
        assert!(err.to_string().contains("final"), "{err}");
    }

    #[test]
    fn totals_are_per_currency_and_never_mixed() {
        let sar = |m| Money::from_minor(m, Currency::SAR);
        let usd = |m| Money::from_minor(m, Currency::USD);
        let item = |cost, sell| BookingItem {
            kind: ItemKind::Other,
            description: "x".into(),
            supplier_name: None,
            supplier_cost: cost,
            sell_price: sell,
            package: None,
            starts_on: None,
            ends_on: None,
        };
        let booking: Booking = Booking {
            id: BookingId::new(),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            client_id: ClientId::new(),
            reference: BookingReference::new(2026, 1).unwrap(),
            status: BookingStatus::Draft,
            travellers: vec![],
            items: vec![
                item(sar(100), sar(150)),
                item(usd(10), usd(20)),
                item(sar(1), sar(2)),
            ],
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        };
        let totals = booking.totals().unwrap();
        assert_eq!(totals.len(), 2);
        assert_eq!((totals[0].sell, totals[0].cost), (sar(152), sar(101)));
        assert_eq!((totals[1].sell, totals[1].cost), (usd(20), usd(10)));
    }

    #[test]
    fn travellers_hide_passports_in_debug_and_audit() {
        let t = Traveller {
            id: TravellerId::new(),
            name: Name::parse("آمنہ خان").unwrap(),
            latin_name: LatinName::parse("KHAN AMINA").unwrap(),
            date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 2).unwrap(),
            passport: Some(PassportNumber::parse("AB1234567").unwrap()),
        };
        assert!(!format!("{t:?}").contains("AB123"));
        let view = t.audit_view().to_string();
        assert!(!view.contains("AB12345") && view.contains("…67"), "{view}");
    }
}
