//! Calendar invites (RFC 5545) of bookings and Umrah groups, over the
//! `icalendar` crate (feature `ics`).
//!
//! - **Events**: one per flight (grouping the booking's tickets that fly
//!   it: passengers, ticket numbers, PNRs), one per hotel stay (an all-day
//!   event from check-in to check-out day), and for an Umrah group its
//!   departure and return days.
//! - **Time zones**: a flight leaves at the local time of its airport, so
//!   `DTSTART`/`DTEND` carry `TZID={IANA zone}` and the calendar holds a
//!   `VTIMEZONE` for each zone used, with the zone's offsets and
//!   daylight-saving changes of the years concerned (from chrono-tz), so
//!   that clients without the IANA database show the right time too.
//! - **Stable identity**: each event's `UID` is a UUIDv5 of the booking (or
//!   group) id and what the event is (flight number, origin and date; the
//!   item's position), so importing a changed booking updates its events
//!   instead of adding copies; `SEQUENCE` grows with every change of the
//!   booking and its tickets (the sum of their versions, which only ever
//!   grow), and `DTSTAMP` is the time of the last change.
//! - **Cancellations**: a cancelled booking (or group) is sent with
//!   `METHOD:CANCEL` and every event `STATUS:CANCELLED`; a flight no issued
//!   ticket covers any more (voided, refunded, reissued onto another
//!   flight) stays in the calendar as `STATUS:CANCELLED`, so that clients
//!   remove it.
//! - **The agency is the organizer**: `ORGANIZER;CN={agency}:mailto:{…}`.
//!
//! ```
//! use tms_adapters::ics::{Organizer, umrah_group_calendar};
//! # use tms_core::domain::*; use tms_core::id::*;
//! # let group = UmrahGroup {
//! #     id: UmrahGroupId::new(), tenant_id: TenantId::new(), branch_id: BranchId::new(),
//! #     name: Name::parse("Ramadan group").unwrap(), season: Season::parse("1448H").unwrap(),
//! #     package_id: None,
//! #     departure_date: chrono::NaiveDate::from_ymd_opt(2027, 2, 10).unwrap(),
//! #     return_date: chrono::NaiveDate::from_ymd_opt(2027, 2, 24).unwrap(),
//! #     leader: None, capacity: 40, status: GroupStatus::Open,
//! #     created_at: chrono::Utc::now(), version: 3,
//! # };
//! let organizer = Organizer { name: "Al Noor Travel".into(), email: Some("desk@alnoor.example".into()) };
//! let ics = umrah_group_calendar(&group, &organizer);
//! assert!(ics.contains("BEGIN:VEVENT") && ics.contains("SEQUENCE:3"));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Offset as _, TimeZone as _, Utc};
use chrono_tz::{OffsetComponents as _, OffsetName as _, Tz};
use icalendar::{
    Calendar, CalendarDateTime, Component as _, DatePerhapsTime, Event, EventLike as _,
    EventStatus, Property,
};
use tms_core::domain::{Booking, BookingStatus, ItemKind, Ticket, TicketStatus, UmrahGroup};

/// The UUID namespace of TMS calendar event ids (a fixed random UUID).
pub const UID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c1f_3b0e_94a2_4f7d_8e15_2a9b_d3c4_7e01);

/// The media type of the answers.
pub const CONTENT_TYPE: &str = "text/calendar; charset=utf-8";

/// Who sends the invites: the agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer {
    /// The agency's name (`CN`).
    pub name: String,
    /// Where replies go; without one, no `ORGANIZER` line is written
    /// (RFC 5545 needs an address).
    pub email: Option<String>,
}

/// The stable `UID` of event `what` of record `owner`.
pub fn event_uid(owner: uuid::Uuid, what: &str) -> String {
    let name = format!("{owner}/{what}");
    format!(
        "{}@tms",
        uuid::Uuid::new_v5(&UID_NAMESPACE, name.as_bytes())
    )
}

/// One flight as the calendar shows it, merged from the tickets that fly it.
struct Flight {
    flight_number: String,
    from: String,
    to: String,
    departure: (chrono::NaiveDateTime, Tz),
    arrival: (chrono::NaiveDateTime, Tz),
    passengers: BTreeSet<String>,
    tickets: BTreeSet<String>,
    pnrs: BTreeSet<String>,
    /// Some ticket in force (issued) flies it.
    live: bool,
}

/// The calendar of a booking: its flights (from `tickets`) and hotel stays.
pub fn booking_calendar(booking: &Booking, tickets: &[Ticket], organizer: &Organizer) -> String {
    let cancelled = booking.status == BookingStatus::Cancelled;
    let sequence = tickets
        .iter()
        .fold(booking.version, |n, t| n.saturating_add(t.version));
    let stamp = tickets
        .iter()
        .map(|t| t.created_at)
        .fold(booking.updated_at, DateTime::max);
    let names: BTreeMap<_, _> = booking
        .travellers
        .iter()
        .map(|t| (t.id, t.latin_name.as_str().to_owned()))
        .collect();

    // Flights, keyed by what identifies them to a traveller.
    let mut flights: BTreeMap<(String, String, NaiveDate), Flight> = BTreeMap::new();
    for ticket in tickets {
        for segment in &ticket.segments {
            let key = (
                segment.flight_number.to_string(),
                segment.from.to_string(),
                segment.departure.local.date(),
            );
            let flight = flights.entry(key).or_insert_with(|| Flight {
                flight_number: segment.flight_number.to_string(),
                from: segment.from.to_string(),
                to: segment.to.to_string(),
                departure: (segment.departure.local, segment.departure.zone),
                arrival: (segment.arrival.local, segment.arrival.zone),
                passengers: BTreeSet::new(),
                tickets: BTreeSet::new(),
                pnrs: BTreeSet::new(),
                live: false,
            });
            let live = ticket.status == TicketStatus::Issued;
            if live && !flight.live {
                // The ticket in force has the times that count.
                flight.departure = (segment.departure.local, segment.departure.zone);
                flight.arrival = (segment.arrival.local, segment.arrival.zone);
                flight.to = segment.to.to_string();
            }
            flight.live |= live;
            if live {
                if let Some(name) = names.get(&ticket.passenger_id) {
                    flight.passengers.insert(name.clone());
                }
                flight.tickets.insert(ticket.ticket_number.to_string());
                flight.pnrs.insert(ticket.pnr.to_string());
            }
        }
    }

    let mut events = Vec::new();
    // Keyed by name: `Tz` has no order.
    let mut zones: BTreeMap<&'static str, (Tz, BTreeSet<i32>)> = BTreeMap::new();
    for ((number, from, date), flight) in &flights {
        for (local, zone) in [flight.departure, flight.arrival] {
            zones
                .entry(zone.name())
                .or_insert_with(|| (zone, BTreeSet::new()))
                .1
                .insert(local.year());
        }
        let mut event = Event::new();
        event
            .uid(&event_uid(
                booking.id.as_uuid(),
                &format!("flight/{number}/{from}/{date}"),
            ))
            .summary(&format!(
                "Flight {} {} → {}",
                flight.flight_number, flight.from, flight.to
            ))
            .location(&flight.from)
            .description(&format!(
                "Booking {}\nPassengers: {}\nTickets: {}\nPNR: {}",
                booking.reference,
                join(&flight.passengers),
                join(&flight.tickets),
                join(&flight.pnrs),
            ))
            .starts(zoned(flight.departure))
            .ends(zoned(flight.arrival));
        let status = if cancelled || !flight.live {
            EventStatus::Cancelled
        } else {
            live_status(booking.status)
        };
        events.push(finish(event, status, sequence, stamp, organizer));
    }
    for (index, item) in booking.items.iter().enumerate() {
        let (ItemKind::Hotel, Some(check_in)) = (item.kind, item.starts_on) else {
            continue;
        };
        let check_out = item
            .ends_on
            .filter(|d| *d > check_in)
            .unwrap_or(check_in + Duration::days(1));
        let mut event = Event::new();
        event
            .uid(&event_uid(booking.id.as_uuid(), &format!("item/{index}")))
            .summary(&format!("Hotel: {}", item.description))
            .description(&format!(
                "Booking {}\nCheck-in {check_in}, check-out {check_out}{}",
                booking.reference,
                item.supplier_name
                    .as_deref()
                    .map(|s| format!("\nSupplier: {s}"))
                    .unwrap_or_default()
            ))
            .starts(DatePerhapsTime::Date(check_in))
            .ends(DatePerhapsTime::Date(check_out))
            .add_property("TRANSP", "TRANSPARENT");
        let status = if cancelled {
            EventStatus::Cancelled
        } else {
            live_status(booking.status)
        };
        events.push(finish(event, status, sequence, stamp, organizer));
    }
    render(
        &format!("Booking {}", booking.reference),
        cancelled,
        &zones,
        events,
    )
}

/// The calendar of an Umrah group: its departure and return days.
pub fn umrah_group_calendar(group: &UmrahGroup, organizer: &Organizer) -> String {
    let cancelled = group.status == tms_core::domain::GroupStatus::Cancelled;
    let status = if cancelled {
        EventStatus::Cancelled
    } else {
        EventStatus::Confirmed
    };
    let sequence = group.version;
    let stamp = group.created_at;
    let mut events = Vec::new();
    for (what, date, label) in [
        ("departure", group.departure_date, "departure"),
        ("return", group.return_date, "return"),
    ] {
        let mut event = Event::new();
        event
            .uid(&event_uid(group.id.as_uuid(), what))
            .summary(&format!("Umrah group {label}: {}", group.name))
            .description(&format!(
                "Group {} (season {}), {label} on {date}",
                group.name,
                group.season.as_str()
            ))
            .starts(DatePerhapsTime::Date(date))
            .ends(DatePerhapsTime::Date(date + Duration::days(1)));
        events.push(finish(event, status, sequence, stamp, organizer));
    }
    render(
        &format!("Umrah group {}", group.name),
        cancelled,
        &BTreeMap::new(),
        events,
    )
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "—".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn zoned((local, zone): (chrono::NaiveDateTime, Tz)) -> CalendarDateTime {
    CalendarDateTime::WithTimezone {
        date_time: local,
        tzid: zone.name().to_owned(),
    }
}

/// A booking not yet confirmed is tentative on the calendar.
fn live_status(status: BookingStatus) -> EventStatus {
    match status {
        BookingStatus::Draft | BookingStatus::Pending => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    }
}

fn finish(
    mut event: Event,
    status: EventStatus,
    sequence: i64,
    stamp: DateTime<Utc>,
    organizer: &Organizer,
) -> Event {
    event
        .status(status)
        .sequence(u32::try_from(sequence.max(0)).unwrap_or(u32::MAX))
        .timestamp(stamp)
        .last_modified(stamp);
    if let Some(email) = &organizer.email {
        event.append_property(
            Property::new("ORGANIZER", format!("mailto:{email}"))
                .add_parameter("CN", &organizer.name)
                .done(),
        );
    }
    event.done()
}

fn render(
    name: &str,
    cancelled: bool,
    zones: &BTreeMap<&'static str, (Tz, BTreeSet<i32>)>,
    events: Vec<Event>,
) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//TMS//Travel calendar//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", if cancelled { "CANCEL" } else { "PUBLISH" }))
        .name(name);
    for event in events {
        calendar.push(event);
    }
    let text = calendar.done().to_string();
    // VTIMEZONEs go in as text, before the events that use them: the
    // crate's own components would give them a UID and DTSTAMP, which a
    // time zone must not have.
    let zones: String = zones
        .values()
        .map(|(zone, years)| vtimezone(*zone, years))
        .collect();
    match text.find("BEGIN:VEVENT\r\n") {
        Some(at) if !zones.is_empty() => format!("{}{zones}{}", &text[..at], &text[at..]),
        _ => text,
    }
}

/// `+0300`, `-0430`, `+054500`.
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

/// A `VTIMEZONE` of `zone` valid over `years`: the offset in force at the
/// start of the first year, then each change (daylight saving on or off)
/// found in those years, each as its own observance.
pub fn vtimezone(zone: Tz, years: &BTreeSet<i32>) -> String {
    let offset_at = |t: DateTime<Utc>| {
        let o = zone.offset_from_utc_datetime(&t.naive_utc());
        (
            o.fix().local_minus_utc(),
            !o.dst_offset().is_zero(),
            o.abbreviation().map(str::to_owned),
        )
    };
    let observance = |kind: &str, at: DateTime<Utc>, from: i32, to: i32, name: Option<String>| {
        // DTSTART is the local time of the change, before it happens.
        let local = at.naive_utc() + Duration::seconds(i64::from(from));
        format!(
            "BEGIN:{kind}\r\nDTSTART:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\n{}END:{kind}\r\n",
            local.format("%Y%m%dT%H%M%S"),
            offset_text(from),
            offset_text(to),
            name.map(|n| format!("TZNAME:{n}\r\n")).unwrap_or_default(),
        )
    };
    let mut out = format!("BEGIN:VTIMEZONE\r\nTZID:{}\r\n", zone.name());
    let (Some(first), Some(last)) = (years.first(), years.last()) else {
        out.push_str("END:VTIMEZONE\r\n");
        return out;
    };
    let start = Utc
        .with_ymd_and_hms(*first, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let end = Utc
        .with_ymd_and_hms(last.saturating_add(1), 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(start);
    let (mut offset, mut dst, name) = offset_at(start);
    let kind = |dst: bool| if dst { "DAYLIGHT" } else { "STANDARD" };
    out.push_str(&observance(kind(dst), start, offset, offset, name));
    let mut day = start;
    while day < end {
        let next = day + Duration::days(1);
        let (o, _, _) = offset_at(next);
        if o != offset {
            // The change is within (day, next]: narrow it to the second.
            let (mut lo, mut hi) = (day, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(mid).0 == offset {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let (to, to_dst, to_name) = offset_at(hi);
            out.push_str(&observance(kind(to_dst), hi, offset, to, to_name));
            offset = to;
            dst = to_dst;
        }
        day = next;
    }
    let _ = dst;
    out.push_str("END:VTIMEZONE\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::str::FromStr as _;

    use chrono::NaiveDateTime;
    use icalendar::CalendarComponent;
    use tms_core::domain::{
        AirlineCode, AirportCode, BookingItem, BookingReference, FlightNumber, LatinName,
        LocalTime, Name, Pnr, Segment, TicketNumber, Traveller,
    };
    use tms_core::id::{BookingId, BranchId, ClientId, TenantId, TicketId, TravellerId};
    use tms_core::money::{Currency, Money};

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn traveller(latin: &str) -> Traveller {
        Traveller {
            id: TravellerId::new(),
            name: Name::parse("آمنہ خان").unwrap(),
            latin_name: LatinName::parse(latin).unwrap(),
            date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 17).unwrap(),
            passport: None,
        }
    }

    fn booking(status: BookingStatus, version: i64) -> Booking {
        let sar = |m| Money::from_minor(m, Currency::SAR);
        Booking {
            id: BookingId::from_uuid(uuid::Uuid::from_u128(42)),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            client_id: ClientId::new(),
            reference: BookingReference::new(2026, 7).unwrap(),
            status,
            travellers: vec![traveller("KHAN AMINA"), traveller("KHAN YUSUF")],
            items: vec![BookingItem {
                kind: ItemKind::Hotel,
                description: "Makkah Hilton, 3 nights".into(),
                supplier_name: Some("Al Safwa".into()),
                supplier_cost: sar(90_000),
                sell_price: sar(120_000),
                package: None,
                starts_on: NaiveDate::from_ymd_opt(2026, 12, 10),
                ends_on: NaiveDate::from_ymd_opt(2026, 12, 13),
            }],
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
            version,
        }
    }

    fn ticket(b: &Booking, passenger: usize, number: &str, flight: &str, dep: &str) -> Ticket {
        Ticket {
            id: TicketId::new(),
            tenant_id: b.tenant_id,
            booking_id: b.id,
            branch_id: b.branch_id,
            pnr: Pnr::parse("AB12CD").unwrap(),
            airline: AirlineCode::parse("SV").unwrap(),
            ticket_number: TicketNumber::parse(number).unwrap(),
            passenger_id: b.travellers[passenger].id,
            segments: vec![Segment {
                from: AirportCode::parse("KHI").unwrap(),
                to: AirportCode::parse("JED").unwrap(),
                flight_number: FlightNumber::parse(flight).unwrap(),
                departure: LocalTime::parse(at(dep), "Asia/Karachi").unwrap(),
                arrival: LocalTime::parse(
                    at(dep) + Duration::hours(3) + Duration::minutes(30),
                    "Asia/Riyadh",
                )
                .unwrap(),
            }],
            fare: Money::from_minor(150_000, Currency::SAR),
            taxes: Money::from_minor(23_050, Currency::SAR),
            status: TicketStatus::Issued,
            replaces: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
            version: 1,
        }
    }

    fn organizer() -> Organizer {
        Organizer {
            name: "Al Noor Travel".into(),
            email: Some("desk@alnoor.example".into()),
        }
    }

    fn events(text: &str) -> Vec<icalendar::Event> {
        let calendar = Calendar::from_str(text).expect("the output parses back");
        calendar
            .components
            .iter()
            .filter_map(CalendarComponent::as_event)
            .cloned()
            .collect()
    }

    #[test]
    fn flights_and_hotel_stays_parse_back_with_zones_uids_and_organizer() {
        let b = booking(BookingStatus::Confirmed, 4);
        let tickets = [
            ticket(&b, 0, "0651234567890", "SV701", "2026-12-10T10:00"),
            ticket(&b, 1, "0651234567891", "SV701", "2026-12-10T10:00"),
        ];
        let text = booking_calendar(&b, &tickets, &organizer());
        assert!(text.contains("METHOD:PUBLISH"), "{text}");
        assert!(
            text.contains("DTSTART;TZID=Asia/Karachi:20261210T100000"),
            "{text}"
        );
        assert!(
            text.contains("DTEND;TZID=Asia/Riyadh:20261210T133000"),
            "{text}"
        );
        // One VTIMEZONE per zone, Karachi at +05:00 all year.
        assert_eq!(text.matches("BEGIN:VTIMEZONE").count(), 2, "{text}");
        assert!(
            text.contains("TZID:Asia/Karachi\r\nBEGIN:STANDARD"),
            "{text}"
        );
        assert!(text.contains("TZOFFSETTO:+0500"), "{text}");
        let parsed = events(&text);
        assert_eq!(parsed.len(), 2, "one flight for both passengers, one stay");
        let flight = &parsed[0];
        assert_eq!(flight.get_summary(), Some("Flight SV701 KHI → JED"));
        assert_eq!(flight.get_sequence(), Some(6));
        assert_eq!(flight.get_status(), Some(EventStatus::Confirmed));
        let description = flight.get_description().unwrap();
        assert!(
            description.contains("KHAN AMINA, KHAN YUSUF"),
            "{description}"
        );
        assert!(description.contains("BK-2026-000007"), "{description}");
        match flight.get_start() {
            Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => {
                assert_eq!(date_time, at("2026-12-10T10:00"));
                assert_eq!(tzid, "Asia/Karachi");
            }
            other => panic!("start: {other:?}"),
        }
        let organizer = flight.properties().get("ORGANIZER").unwrap();
        assert_eq!(organizer.value(), "mailto:desk@alnoor.example");
        assert_eq!(
            organizer.params().get("CN").map(|p| p.value()),
            Some("Al Noor Travel")
        );
        let hotel = &parsed[1];
        assert_eq!(hotel.get_summary(), Some("Hotel: Makkah Hilton, 3 nights"));
        assert_eq!(
            hotel.get_start(),
            Some(DatePerhapsTime::Date(
                NaiveDate::from_ymd_opt(2026, 12, 10).unwrap()
            ))
        );
        assert_eq!(
            hotel.get_end(),
            Some(DatePerhapsTime::Date(
                NaiveDate::from_ymd_opt(2026, 12, 13).unwrap()
            ))
        );
        assert_eq!(
            hotel.get_timestamp(),
            Some(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_changed_booking_keeps_its_uids_and_raises_the_sequence() {
        let b = booking(BookingStatus::Confirmed, 4);
        let first = booking_calendar(
            &b,
            &[ticket(&b, 0, "0651234567890", "SV701", "2026-12-10T10:00")],
            &organizer(),
        );
        // The flight leaves an hour later and the booking moved on.
        let mut later = b.clone();
        later.version = 5;
        later.status = BookingStatus::Ticketed;
        let mut t = ticket(&later, 0, "0651234567890", "SV701", "2026-12-10T11:00");
        t.version = 2;
        let second = booking_calendar(&later, &[t], &organizer());
        let (a, b) = (events(&first), events(&second));
        assert_eq!(
            a.iter()
                .map(|e| e.get_uid().unwrap().to_owned())
                .collect::<Vec<_>>(),
            b.iter()
                .map(|e| e.get_uid().unwrap().to_owned())
                .collect::<Vec<_>>()
        );
        assert!(b[0].get_sequence() > a[0].get_sequence());
        assert!(second.contains("DTSTART;TZID=Asia/Karachi:20261210T110000"));
    }

    #[test]
    fn a_cancelled_booking_cancels_every_event_and_a_voided_ticket_its_flight() {
        let b = booking(BookingStatus::Cancelled, 6);
        let text = booking_calendar(
            &b,
            &[ticket(&b, 0, "0651234567890", "SV701", "2026-12-10T10:00")],
            &organizer(),
        );
        assert!(text.contains("METHOD:CANCEL"), "{text}");
        assert!(
            events(&text)
                .iter()
                .all(|e| e.get_status() == Some(EventStatus::Cancelled))
        );

        let b = booking(BookingStatus::Ticketed, 6);
        let mut voided = ticket(&b, 0, "0651234567890", "SV701", "2026-12-10T10:00");
        voided.status = TicketStatus::Void;
        let reissued = ticket(&b, 0, "0651234567892", "SV705", "2026-12-11T10:00");
        let text = booking_calendar(&b, &[voided, reissued], &organizer());
        assert!(text.contains("METHOD:PUBLISH"));
        let statuses: Vec<_> = events(&text)
            .iter()
            .map(|e| (e.get_summary().unwrap().to_owned(), e.get_status()))
            .collect();
        assert_eq!(
            statuses[..2],
            [
                (
                    "Flight SV701 KHI → JED".to_owned(),
                    Some(EventStatus::Cancelled)
                ),
                (
                    "Flight SV705 KHI → JED".to_owned(),
                    Some(EventStatus::Confirmed)
                ),
            ]
        );
    }

    #[test]
    fn daylight_saving_zones_list_their_changes() {
        let years = BTreeSet::from([2026]);
        let text = vtimezone(chrono_tz::Europe::London, &years);
        // GMT from January, BST from 29 March 01:00 local, GMT from 25 October 02:00 local.
        assert!(text.contains("BEGIN:DAYLIGHT\r\nDTSTART:20260329T010000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100"), "{text}");
        assert!(text.contains("BEGIN:STANDARD\r\nDTSTART:20261025T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000"), "{text}");
        let text = vtimezone(chrono_tz::Asia::Kolkata, &years);
        assert!(
            text.contains("TZOFFSETTO:+0530") && !text.contains("DAYLIGHT"),
            "{text}"
        );
    }

    #[test]
    fn umrah_groups_have_departure_and_return_days() {
        use tms_core::domain::{GroupStatus, Season};
        let mut group = UmrahGroup {
            id: tms_core::id::UmrahGroupId::new(),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            name: Name::parse("Ramadan group").unwrap(),
            season: Season::parse("1448H").unwrap(),
            package_id: None,
            departure_date: NaiveDate::from_ymd_opt(2027, 2, 10).unwrap(),
            return_date: NaiveDate::from_ymd_opt(2027, 2, 24).unwrap(),
            leader: None,
            capacity: 40,
            status: GroupStatus::Open,
            created_at: Utc::now(),
            version: 3,
        };
        let parsed = events(&umrah_group_calendar(&group, &organizer()));
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].get_start(),
            Some(DatePerhapsTime::Date(group.departure_date))
        );
        assert_eq!(
            parsed[0].get_uid().unwrap(),
            event_uid(group.id.as_uuid(), "departure")
        );
        group.status = GroupStatus::Cancelled;
        group.version = 4;
        let text = umrah_group_calendar(&group, &organizer());
        assert!(text.contains("METHOD:CANCEL"));
        assert!(
            events(&text)
                .iter()
                .all(|e| e.get_status() == Some(EventStatus::Cancelled))
        );
    }
}
