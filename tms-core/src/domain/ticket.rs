//! Airline tickets on a booking.
//!
//! A ticket is issued to one traveller of its booking, under a PNR, with
//! flight segments whose departure and arrival keep the **local** time and
//! the IANA zone of the airport (what the boarding pass says), checked with
//! `chrono-tz`: a zone that does not exist, or a local time that does not
//! exist in it (a daylight-saving gap) or is ambiguous, is refused.
//!
//! Status: `issued` → `reissued` (a new ticket replaces it and links back to
//! it with `replaces`), `refunded` or `void`. Only an issued ticket changes
//! status; the others are final. Ticket numbers are unique per tenant.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

use crate::error::{Error, FieldErrors, Result};
use crate::id::{BookingId, BranchId, TenantId, TicketId, TravellerId};
use crate::money::Money;

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr, $msg:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses (trimmed, upper-cased) and checks the format.
            pub fn parse(raw: &str) -> Result<Self> {
                let upper = raw.trim().to_ascii_uppercase();
                let check: fn(&str) -> bool = $check;
                if check(&upper) {
                    Ok(Self(upper))
                } else {
                    Err(Error::invalid($field, $msg))
                }
            }

            /// The code.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

code_type!(
    /// A booking record locator: six letters or digits.
    ///
    /// ```
    /// use tms_core::domain::Pnr;
    /// assert_eq!(Pnr::parse("ab12cd").unwrap().as_str(), "AB12CD");
    /// assert!(Pnr::parse("AB12C").is_err());
    /// ```
    Pnr, "pnr", |s| s.len() == 6 && alnum(s), "must be 6 letters or digits"
);
code_type!(
    /// An IATA airline designator: two letters or digits (`SV`, `PK`, `9W`).
    AirlineCode, "airline", |s| s.len() == 2 && alnum(s), "must be a 2-character IATA airline code"
);
code_type!(
    /// A 13-digit ticket number (3-digit airline prefix + 10 digits).
    TicketNumber, "ticket_number", |s| s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()),
    "must be 13 digits"
);
code_type!(
    /// An IATA airport code: three letters (`JED`, `KHI`).
    AirportCode, "airport", |s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()),
    "must be a 3-letter IATA airport code"
);
code_type!(
    /// A flight number: the airline's two characters, then 1 to 4 digits and
    /// an optional letter (`SV123`, `PK7401A`).
    FlightNumber, "flight_number", |s| {
        let (airline, number) = (s.get(..2).unwrap_or(""), s.get(2..).unwrap_or(""));
        let digits = number.trim_end_matches(|c: char| c.is_ascii_uppercase());
        airline.len() == 2
            && alnum(airline)
            && (1..=4).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && number.len() - digits.len() <= 1
    },
    "must be an airline code and 1 to 4 digits, e.g. SV123"
);

/// A local date-time at an airport, with the airport's IANA zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The wall-clock time as printed on the ticket.
    pub local: NaiveDateTime,
    /// The zone, e.g. `Asia/Riyadh`.
    pub zone: Tz,
}

impl LocalTime {
    /// Checks that `zone` is an IANA zone and that `local` exists in it
    /// exactly once.
    pub fn parse(local: NaiveDateTime, zone: &str) -> Result<Self> {
        let zone: Tz = zone
            .trim()
            .parse()
            .map_err(|_| Error::invalid("zone", "is not an IANA time zone name"))?;
        let this = Self { local, zone };
        this.instant()?;
        Ok(this)
    }

    /// The instant (UTC) this local time is.
    pub fn instant(&self) -> Result<DateTime<Utc>> {
        match self.zone.from_local_datetime(&self.local) {
            chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(..) => Err(Error::invalid(
                "local",
                "is ambiguous in this zone (clocks go back); give the other airport's time",
            )),
            chrono::LocalResult::None => Err(Error::invalid(
                "local",
                "does not exist in this zone (clocks go forward)",
            )),
        }
    }
}

impl serde::Serialize for LocalTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        LocalTimeJson {
            local: self.local,
            zone: self.zone.name().to_owned(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for LocalTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = LocalTimeJson::deserialize(d)?;
        LocalTime::parse(raw.local, &raw.zone).map_err(serde::de::Error::custom)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LocalTimeJson {
    local: NaiveDateTime,
    zone: String,
}

/// One flight of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Departure airport.
    pub from: AirportCode,
    /// Arrival airport.
    pub to: AirportCode,
    /// The flight.
    pub flight_number: FlightNumber,
    /// Local departure time at `from`.
    pub departure: LocalTime,
    /// Local arrival time at `to`.
    pub arrival: LocalTime,
}

/// Checks a ticket's segments: 1 to 16, each from one airport to another,
/// arriving after it departs (compared as instants), in time order.
pub fn validate_segments(segments: &[Segment]) -> Result<()> {
    let mut errors = FieldErrors::new();
    if segments.is_empty() || segments.len() > 16 {
        errors.push("segments", "must list 1 to 16 flights");
    }
    let mut previous_arrival = None;
    for (i, s) in segments.iter().enumerate() {
        if s.from == s.to {
            errors.push(format!("segments[{i}].to"), "must differ from `from`");
        }
        match (s.departure.instant(), s.arrival.instant()) {
            (Ok(dep), Ok(arr)) => {
                if arr <= dep {
                    errors.push(
                        format!("segments[{i}].arrival"),
                        "must be after the departure",
                    );
                }
                if previous_arrival.is_some_and(|p| dep < p) {
                    errors.push(
                        format!("segments[{i}].departure"),
                        "must not be before the previous flight arrives",
                    );
                }
                previous_arrival = Some(arr);
            }
            _ => errors.push(format!("segments[{i}]"), "has a time that does not exist"),
        }
    }
    errors.into_result()
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Valid for travel.
    Issued,
    /// Replaced by a newer ticket (which links back to it).
    Reissued,
    /// Refunded.
    Refunded,
    /// Voided (cancelled within the void window).
    Void,
}

impl TicketStatus {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Issued => "issued",
            TicketStatus::Reissued => "reissued",
            TicketStatus::Refunded => "refunded",
            TicketStatus::Void => "void",
        }
    }

    /// Parses [`TicketStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "issued" => Ok(TicketStatus::Issued),
            "reissued" => Ok(TicketStatus::Reissued),
            "refunded" => Ok(TicketStatus::Refunded),
            "void" => Ok(TicketStatus::Void),
            _ => Err(Error::invalid("status", "unknown ticket status")),
        }
    }

    /// `Ok` if an issued ticket; a `Conflict` otherwise (only issued
    /// tickets are reissued, refunded or voided).
    pub fn check_issued(self, doing: &str) -> Result<()> {
        if self == TicketStatus::Issued {
            Ok(())
        } else {
            Err(Error::conflict(format!(
                "a {} ticket cannot be {doing}: only an issued ticket can",
                self.as_str()
            )))
        }
    }
}

/// An airline ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Identity.
    pub id: TicketId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The booking it belongs to.
    pub booking_id: BookingId,
    /// The booking's branch (for scope checks without loading it).
    pub branch_id: BranchId,
    /// Record locator.
    pub pnr: Pnr,
    /// Validating airline.
    pub airline: AirlineCode,
    /// Unique per tenant.
    pub ticket_number: TicketNumber,
    /// A traveller of the booking.
    pub passenger_id: TravellerId,
    /// The flights.
    pub segments: Vec<Segment>,
    /// Base fare.
    pub fare: Money,
    /// Taxes and fees.
    pub taxes: Money,
    /// Where it is in its life.
    pub status: TicketStatus,
    /// The ticket this one replaces (a reissue).
    pub replaces: Option<TicketId>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl Ticket {
    /// The ticket as the audit log keeps it.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "booking_id": self.booking_id,
            "pnr": self.pnr,
            "airline": self.airline,
            "ticket_number": self.ticket_number,
            "passenger_id": self.passenger_id,
            "segments": self.segments,
            "fare": self.fare,
            "taxes": self.taxes,
            "status": self.status,
            "replaces": self.replaces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn codes_are_checked_and_upper_cased() {
        assert_eq!(AirlineCode::parse("sv").unwrap().as_str(), "SV");
        assert!(AirlineCode::parse("SVA").is_err());
        assert!(TicketNumber::parse("0651234567890").is_ok());
        assert!(TicketNumber::parse("065123456789").is_err());
        assert!(AirportCode::parse("jed").is_ok());
        assert!(AirportCode::parse("J3D").is_err());
        for ok in ["SV123", "pk7401a", "9W1"] {
            assert!(FlightNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["SV", "SV12345", "SV12AB", "S-123"] {
            assert!(FlightNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_are_iana_names_and_gaps_are_refused() {
        assert!(LocalTime::parse(at(2026, 12, 10, 8, 30), "Asia/Riyadh").is_ok());
        assert!(LocalTime::parse(at(2026, 12, 10, 8, 30), "Mars/Olympus").is_err());
        // Europe/London skips 01:00-02:00 on 2026-03-29.
        assert!(LocalTime::parse(at(2026, 3, 29, 1, 30), "Europe/London").is_err());
    }

    #[test]
    fn a_flight_arriving_before_it_leaves_is_refused_across_zones() {
        let seg = |dep, dz: &str, arr, az: &str| Segment {
            from: AirportCode::parse("KHI").unwrap(),
            to: AirportCode::parse("JED").unwrap(),
            flight_number: FlightNumber::parse("SV701").unwrap(),
            departure: LocalTime::parse(dep, dz).unwrap(),
            arrival: LocalTime::parse(arr, az).unwrap(),
        };
        // 10:00 Karachi (05:00Z) → 11:30 Riyadh (08:30Z): fine, although the
        // clock difference alone looks like 1h30.
        assert!(
            validate_segments(&[seg(
                at(2026, 12, 10, 10, 0),
                "Asia/Karachi",
                at(2026, 12, 10, 11, 30),
                "Asia/Riyadh"
            )])
            .is_ok()
        );
        // 10:00 Karachi (05:00Z) → 07:30 Riyadh (04:30Z): before departure.
        assert!(
            validate_segments(&[seg(
                at(2026, 12, 10, 10, 0),
                "Asia/Karachi",
                at(2026, 12, 10, 7, 30),
                "Asia/Riyadh"
            )])
            .is_err()
        );
    }

    #[test]
    fn only_issued_tickets_change() {
        assert!(TicketStatus::Issued.check_issued("voided").is_ok());
        for s in [
            TicketStatus::Reissued,
            TicketStatus::Refunded,
            TicketStatus::Void,
        ] {
            assert!(matches!(
                s.check_issued("voided"),
                Err(Error::Conflict { .. })
            ));
        }
    }
}
