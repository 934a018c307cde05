//! The catalogue: categories and the packages an agency sells.
//!
//! **Tenant-level.** The catalogue belongs to the agency, not to an office:
//! every branch sells the same packages, and the places of a package are one
//! pool whichever branch books them. Packages and categories therefore carry
//! no `branch_id`; they are managed by the roles holding Operational C/U
//! (Tenant Super Admin, Admin, Sales) and read by every role holding
//! Operational R (those and Finance). The Umrah role has no Operational
//! grant and does not see the catalogue through this service.
//!
//! **Places.** `capacity` is how many places a package has, `booked` how
//! many bookings hold. `booked` changes only through the store's atomic
//! conditional update (`booked + n <= capacity`), inside the booking's own
//! transaction, so two bookings of the last place can never both succeed.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::Name;
use crate::error::{Error, FieldErrors, Result};
use crate::id::{CategoryId, PackageId, TenantId};
use crate::money::Money;

/// Longest description kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Most inclusions a package lists.
pub const MAX_INCLUSIONS: usize = 100;
/// Longest inclusion line, in characters.
pub const MAX_INCLUSION_CHARS: usize = 500;
/// Most places a package may have.
pub const MAX_CAPACITY: u32 = 100_000;

/// Free text (descriptions): at most [`MAX_DESCRIPTION_CHARS`] characters,
/// no control characters except line breaks and tabs.
pub fn parse_description(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A category of packages (e.g. "Umrah", "Holidays").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Category {
    /// Identity.
    pub id: CategoryId,
    /// Owner.
    pub tenant_id: TenantId,
    /// Display name, in any script.
    pub name: Name,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// What a package is, as the editor sets it (everything but identity,
/// places booked, publication and version).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageDetails {
    /// Optional category.
    pub category_id: Option<CategoryId>,
    /// Title, in any script.
    pub title: Name,
    /// Free text.
    pub description: String,
    /// Price per place.
    pub price: Money,
    /// First day of travel.
    pub starts_on: NaiveDate,
    /// Last day of travel (not before `starts_on`).
    pub ends_on: NaiveDate,
    /// Places for sale.
    pub capacity: u32,
    /// What the price includes, one line each.
    pub inclusions: Vec<String>,
}

impl PackageDetails {
    /// Checks the rules that span fields (dates in order, bounds on
    /// capacity and inclusions), collecting every broken one.
    pub fn validate(self) -> Result<Self> {
        let mut errors = FieldErrors::new();
        if self.ends_on < self.starts_on {
            errors.push("ends_on", "must not be before starts_on");
        }
        if self.capacity > MAX_CAPACITY {
            errors.push("capacity", format!("must be at most {MAX_CAPACITY}"));
        }
        if self.price.minor_units() < 0 {
            errors.push("price", "must not be negative");
        }
        if self.inclusions.len() > MAX_INCLUSIONS {
            errors.push(
                "inclusions",
                format!("must list at most {MAX_INCLUSIONS} lines"),
            );
        }
        let mut inclusions = Vec::with_capacity(self.inclusions.len());
        for line in &self.inclusions {
            let line = line.trim();
            if line.is_empty() || line.chars().count() > MAX_INCLUSION_CHARS {
                errors.push(
                    "inclusions",
                    format!("each line must have 1 to {MAX_INCLUSION_CHARS} characters"),
                );
                break;
            }
            if line.chars().any(char::is_control) {
                errors.push("inclusions", "must not contain control characters");
                break;
            }
            inclusions.push(line.to_owned());
        }
        errors.into_result()?;
        Ok(Self { inclusions, ..self })
    }
}

/// A package of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Package {
    /// Identity.
    pub id: PackageId,
    /// Owner.
    pub tenant_id: TenantId,
    /// What it is.
    pub details: PackageDetails,
    /// Places held by bookings (never above `details.capacity`).
    pub booked: u32,
    /// Whether it is offered for booking.
    pub published: bool,
    /// The blob key of its image (set by the files issue; kept as given).
    pub image_key: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version of the editable fields. Booking places
    /// does not bump it: an editor's save must not conflict with every sale.
    pub version: i64,
}

impl Package {
    /// Places still for sale.
    pub fn available(&self) -> u32 {
        self.details.capacity.saturating_sub(self.booked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn details() -> PackageDetails {
        PackageDetails {
            category_id: None,
            title: Name::parse("Umrah December").unwrap(),
            description: String::new(),
            price: Money::from_minor(450_000, Currency::SAR),
            starts_on: NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
            ends_on: NaiveDate::from_ymd_opt(2026, 12, 20).unwrap(),
            capacity: 40,
            inclusions: vec!["  Visa ".into(), "Hotel".into()],
        }
    }

    #[test]
    fn inclusions_are_trimmed_and_dates_must_be_in_order() {
        let ok = details().validate().unwrap();
        assert_eq!(ok.inclusions, ["Visa", "Hotel"]);
        let mut bad = details();
        bad.ends_on = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        bad.inclusions.push(" ".into());
        let Err(Error::Invalid(errors)) = bad.validate() else {
            panic!("expected invalid");
        };
        let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["ends_on", "inclusions"]);
    }

    #[test]
    fn descriptions_refuse_control_characters_but_keep_line_breaks() {
        assert_eq!(parse_description(" a\nb ").unwrap(), "a\nb");
        assert!(parse_description("a\u{0007}b").is_err());
    }
}
