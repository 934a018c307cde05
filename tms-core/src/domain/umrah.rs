//! Umrah groups, families, pilgrims and rooming: the types and the pure
//! rules the Umrah service applies (DESIGN.md §6, issue 6).
//!
//! A **group** travels together (season, departure and return dates, a
//! branch, a capacity) and moves through its life:
//!
//! ```text
//! planning ──► open ──► closed ──► departed ──► returned
//!    │  ▲        │ ▲       │
//!    │  └────────┘ └───────┘   (re-open: back one step)
//!    └──────────┴─────────┴──► cancelled
//! ```
//!
//! **Pilgrims** belong to one group and to at most one **family** (the
//! family is a field of the pilgrim, so two families cannot claim one
//! person). **Rooms** hold one to five pilgrims per city (Makkah, Madinah);
//! [`check_room_assignment`] keeps rooms of one gender unless everyone in
//! the room is one family, keeps families together, and never overfills.
//!
//! The **mahram rule** ([`MahramRule`]) is a tenant's choice, not a
//! constant: Saudi Arabia has relaxed the requirement (since 2019 women
//! from 18 travel for Umrah without a mahram, earlier the threshold was
//! 45), but agencies and some nationalities' rules still ask for one; the
//! default here is the traditional 45, and a tenant lowers it (or turns it
//! off with 0) knowingly.

use std::fmt;

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Country, LatinName, Name};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BranchId, PilgrimId, RoomId, TenantId, UmrahFamilyId, UmrahGroupId};
use crate::security::keyring::{BlindIndex, Sealed};

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable name used in storage and the API.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// Parses [`Self::as_str`]'s form.
            pub fn parse(raw: &str) -> Result<Self> {
                match raw.trim() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(Error::invalid(
                        $field,
                        format!("must be one of: {}", [$($text),*].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// Where a group is in its life (see the module diagram).
    GroupStatus, "status" {
        /// Being put together; not yet taking bookings.
        Planning => "planning",
        /// Taking pilgrims.
        Open => "open",
        /// The list is final (mahram rule checked); visas and rooming.
        Closed => "closed",
        /// Travelling.
        Departed => "departed",
        /// Back home.
        Returned => "returned",
        /// Called off.
        Cancelled => "cancelled",
    }
);

impl GroupStatus {
    /// Whether a group may move from `self` to `to`.
    pub fn can_move_to(self, to: GroupStatus) -> bool {
        use GroupStatus::*;
        matches!(
            (self, to),
            (Planning, Open)
                | (Open, Planning)
                | (Open, Closed)
                | (Closed, Open)
                | (Closed, Departed)
                | (Departed, Returned)
                | (Planning | Open | Closed, Cancelled)
        )
    }

    /// Whether pilgrims may still be added or removed and the group's
    /// details changed.
    pub fn takes_changes(self) -> bool {
        matches!(self, GroupStatus::Planning | GroupStatus::Open)
    }

    /// Whether rooms and visas may still be arranged.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            GroupStatus::Planning | GroupStatus::Open | GroupStatus::Closed
        )
    }
}

str_enum!(
    /// A pilgrim's gender, as on the passport: rooming and the mahram rule
    /// depend on it.
    Gender, "gender" {
        /// Male.
        Male => "male",
        /// Female.
        Female => "female",
    }
);

str_enum!(
    /// Where the pilgrim's visa stands.
    VisaStatus, "visa_status" {
        /// Nothing filed yet.
        NotApplied => "not_applied",
        /// Filed, waiting.
        Applied => "applied",
        /// Granted: a visa number is recorded.
        Issued => "issued",
        /// Refused.
        Rejected => "rejected",
    }
);

str_enum!(
    /// How a mahram is related to the woman he accompanies.
    MahramRelation, "mahram_relation" {
        /// Her husband.
        Husband => "husband",
        /// Her father.
        Father => "father",
        /// Her son.
        Son => "son",
        /// Her brother.
        Brother => "brother",
        /// Her grandfather.
        Grandfather => "grandfather",
        /// Her grandson.
        Grandson => "grandson",
        /// Her paternal or maternal uncle.
        Uncle => "uncle",
        /// Her nephew.
        Nephew => "nephew",
        /// Her father-in-law.
        FatherInLaw => "father_in_law",
        /// Her son-in-law.
        SonInLaw => "son_in_law",
        /// Her stepfather.
        Stepfather => "stepfather",
        /// Her stepson.
        Stepson => "stepson",
    }
);

str_enum!(
    /// The holy city a room is in.
    City, "city" {
        /// Makkah.
        Makkah => "makkah",
        /// Madinah.
        Madinah => "madinah",
    }
);

str_enum!(
    /// Room types, by the number of beds.
    RoomType, "room_type" {
        /// One bed.
        Single => "single",
        /// Two beds.
        Double => "double",
        /// Three beds.
        Triple => "triple",
        /// Four beds.
        Quad => "quad",
        /// Five beds.
        Quint => "quint",
    }
);

impl RoomType {
    /// How many pilgrims it sleeps (1 to 5).
    pub const fn capacity(self) -> usize {
        match self {
            RoomType::Single => 1,
            RoomType::Double => 2,
            RoomType::Triple => 3,
            RoomType::Quad => 4,
            RoomType::Quint => 5,
        }
    }
}

/// An Umrah season: a Hijri year (`1448H`, 1400–1600) or a Gregorian year
/// (`2027`, 2000–2100).
///
/// ```
/// use tms_core::domain::Season;
/// assert_eq!(Season::parse(" 1448h ").unwrap().as_str(), "1448H");
/// assert_eq!(Season::parse("2027").unwrap().as_str(), "2027");
/// assert!(Season::parse("1448").is_err()); // neither a Hijri nor a Gregorian season
/// assert!(Season::parse("summer").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Season(String);

impl Season {
    /// Parses a season, upper-casing the `H`.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim().to_ascii_uppercase();
        let invalid = || {
            Error::invalid(
                "season",
                "must be a Hijri year like 1448H (1400-1600) or a year like 2027 (2000-2100)",
            )
        };
        let (digits, hijri) = match raw.strip_suffix('H') {
            Some(digits) => (digits, true),
            None => (raw.as_str(), false),
        };
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let year: u32 = digits.parse().map_err(|_| invalid())?;
        let ok = if hijri {
            (1400..=1600).contains(&year)
        } else {
            (2000..=2100).contains(&year)
        };
        if ok { Ok(Self(raw)) } else { Err(invalid()) }
    }

    /// The season as text (`1448H`, `2027`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Season {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A short reference (visa number, room number): 1 to 30 letters, digits,
/// `-` or `/`, upper-cased.
///
/// ```
/// use tms_core::domain::ShortRef;
/// assert_eq!(ShortRef::parse("v-604 1", "visa_number").unwrap().as_str(), "V-6041");
/// assert!(ShortRef::parse("", "visa_number").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ShortRef(String);

impl ShortRef {
    /// Parses a reference; errors name `field`.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok = (1..=30).contains(&compact.len())
            && compact
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/'));
        if ok {
            Ok(Self(compact))
        } else {
            Err(Error::invalid(
                field,
                "must have 1 to 30 letters, digits, - or /",
            ))
        }
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who leads a group: one of its pilgrims, or a named person (a guide who
/// is not on the pilgrim list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLeader {
    /// A pilgrim of the group.
    Pilgrim(PilgrimId),
    /// A person named here.
    Named(Name),
}

/// The largest group capacity accepted.
pub const MAX_GROUP_CAPACITY: u32 = 1000;

/// An Umrah group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UmrahGroup {
    /// Identity.
    pub id: UmrahGroupId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The branch that runs it (branch scope applies).
    pub branch_id: BranchId,
    /// Display name, any script.
    pub name: Name,
    /// Season.
    pub season: Season,
    /// The catalogue package sold for it, if any.
    pub package_id: Option<uuid::Uuid>,
    /// Departure date.
    pub departure_date: NaiveDate,
    /// Return date, after departure.
    pub return_date: NaiveDate,
    /// Leader, if chosen.
    pub leader: Option<GroupLeader>,
    /// The most pilgrims it takes (1..=[`MAX_GROUP_CAPACITY`]).
    pub capacity: u32,
    /// Where it is in its life.
    pub status: GroupStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Checks a group's dates and capacity, listing every problem.
pub fn check_group(departure: NaiveDate, return_date: NaiveDate, capacity: u32) -> Result<()> {
    let mut errors = FieldErrors::new();
    if return_date <= departure {
        errors.push("return_date", "must be after the departure date");
    }
    if !(1..=MAX_GROUP_CAPACITY).contains(&capacity) {
        errors.push(
            "capacity",
            format!("must be between 1 and {MAX_GROUP_CAPACITY}"),
        );
    }
    errors.into_result()
}

/// A family travelling in a group, with a head pilgrim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UmrahFamily {
    /// Identity.
    pub id: UmrahFamilyId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The group.
    pub group_id: UmrahGroupId,
    /// The group's branch.
    pub branch_id: BranchId,
    /// Display name (e.g. the family name), any script.
    pub name: Name,
    /// The head of the family, a member.
    pub head_pilgrim_id: Option<PilgrimId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A passport number as stored: sealed with the key ring (table
/// `pilgrims`, field `passport_number`, row = the pilgrim's id), its blind
/// index for exact search, and the last two characters for people and the
/// audit log (`…67`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPassport {
    /// The sealed number.
    pub sealed: Sealed,
    /// Keyed hash for exact lookup.
    pub index: BlindIndex,
    /// `…` and the last two characters.
    pub hint: String,
}

/// A pilgrim of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pilgrim {
    /// Identity.
    pub id: PilgrimId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The group.
    pub group_id: UmrahGroupId,
    /// The group's branch.
    pub branch_id: BranchId,
    /// The family, if any (at most one).
    pub family_id: Option<UmrahFamilyId>,
    /// Name as typed, any script.
    pub name: Name,
    /// Name in Latin letters, as in the passport.
    pub latin_name: LatinName,
    /// Gender.
    pub gender: Gender,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Nationality.
    pub nationality: Country,
    /// The passport number, sealed.
    pub passport: StoredPassport,
    /// Passport expiry date.
    pub passport_expiry: NaiveDate,
    /// Visa status.
    pub visa_status: VisaStatus,
    /// Visa number, once issued.
    pub visa_number: Option<ShortRef>,
    /// The client record of this person, if any.
    pub client_id: Option<uuid::Uuid>,
    /// The male pilgrim of the group who is her mahram, if any.
    pub mahram_id: Option<PilgrimId>,
    /// How he is related.
    pub mahram_relation: Option<MahramRelation>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Age in whole years on `on`.
pub fn age_on(date_of_birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - date_of_birth.year();
    if (on.month(), on.day()) < (date_of_birth.month(), date_of_birth.day()) {
        age -= 1;
    }
    age
}

/// Whether a passport expiring on `expiry` is valid less than six months
/// after the group returns on `return_date` (Saudi entry needs six months'
/// validity): flagged, so that the agency renews it in time.
pub fn passport_expires_too_soon(expiry: NaiveDate, return_date: NaiveDate) -> bool {
    match return_date.checked_add_months(Months::new(6)) {
        Some(limit) => expiry < limit,
        None => false,
    }
}

/// The mahram rule as a tenant configures it.
///
/// A female pilgrim **younger** than `min_age_without_mahram` on the
/// departure date must have a mahram: a male pilgrim of the same group,
/// with the relation recorded. The default (45) is the rule Saudi Arabia
/// applied for years; since 2019 it lets women travel for Umrah without a
/// mahram, so a tenant may lower the age (e.g. 18) or switch the rule off
/// with 0. Keeping the number a parameter makes it a documented choice of
/// each agency, not a hidden constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MahramRule {
    /// Women this old or older need no mahram; 0 turns the rule off.
    pub min_age_without_mahram: u8,
}

impl Default for MahramRule {
    fn default() -> Self {
        Self {
            min_age_without_mahram: 45,
        }
    }
}

impl MahramRule {
    /// Whether `pilgrim` needs a mahram for a departure on `departure`.
    pub fn requires_mahram(&self, pilgrim: &Pilgrim, departure: NaiveDate) -> bool {
        pilgrim.gender == Gender::Female
            && age_on(pilgrim.date_of_birth, departure) < i32::from(self.min_age_without_mahram)
    }

    /// Every pilgrim of `group` who needs a mahram and lacks a valid one (a
    /// male pilgrim of the same list, with a relation), as field errors
    /// naming them — all at once, so the agency fixes the list in one go.
    pub fn check_group(&self, departure: NaiveDate, pilgrims: &[Pilgrim]) -> Result<()> {
        let mut errors = FieldErrors::new();
        for pilgrim in pilgrims {
            if !self.requires_mahram(pilgrim, departure) {
                continue;
            }
            let mahram = pilgrim
                .mahram_id
                .and_then(|id| pilgrims.iter().find(|p| p.id == id));
            let valid = matches!(mahram, Some(m) if m.gender == Gender::Male && m.id != pilgrim.id)
                && pilgrim.mahram_relation.is_some();
            if !valid {
                errors.push(
                    format!("pilgrims.{}", pilgrim.id),
                    format!(
                        "{} ({}) needs a mahram: a male pilgrim of this group and his relation",
                        pilgrim.latin_name.as_str(),
                        pilgrim.name
                    ),
                );
            }
        }
        errors.into_result()
    }
}

/// A hotel room of a group in one city.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    /// Identity.
    pub id: RoomId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The group.
    pub group_id: UmrahGroupId,
    /// The group's branch.
    pub branch_id: BranchId,
    /// Hotel name.
    pub hotel: Name,
    /// City.
    pub city: City,
    /// Type, which sets the capacity.
    pub room_type: RoomType,
    /// Room number, once the hotel gives one.
    pub room_number: Option<ShortRef>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A pilgrim placed in a room. One per pilgrim per city (the store's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAssignment {
    /// Owner.
    pub tenant_id: TenantId,
    /// The group.
    pub group_id: UmrahGroupId,
    /// The room.
    pub room_id: RoomId,
    /// The room's city.
    pub city: City,
    /// The pilgrim.
    pub pilgrim_id: PilgrimId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Checks placing `newcomers` in `room`, which already holds `occupants`.
///
/// - never more pilgrims than the room sleeps (`Conflict`: the room is full);
/// - one gender per room, unless everyone in it is of one family;
/// - families together: `family_elsewhere` lists, per newcomer's family,
///   members already roomed in another room of the same city, and
///   `family_unroomed` how many members of each newcomer's family are still
///   without a room in this city (newcomers included). A family that fits
///   in one room (five or fewer) is never split: the room must keep places
///   for the rest of the family; a larger family splits as it must.
pub fn check_room_assignment(
    room: &Room,
    occupants: &[Pilgrim],
    newcomers: &[Pilgrim],
    family_elsewhere: &[(UmrahFamilyId, RoomId)],
    family_size: &dyn Fn(UmrahFamilyId) -> usize,
    family_unroomed: &dyn Fn(UmrahFamilyId) -> usize,
) -> Result<()> {
    let capacity = room.room_type.capacity();
    let after = occupants.len() + newcomers.len();
    if after > capacity {
        return Err(Error::conflict(format!(
            "the room is full: a {} room sleeps {capacity}, {} placed, {} more asked",
            room.room_type,
            occupants.len(),
            newcomers.len()
        )));
    }
    let everyone = || occupants.iter().chain(newcomers);
    let one_family = everyone()
        .map(|p| p.family_id)
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0] == w[1])
        && everyone().all(|p| p.family_id.is_some());
    let one_gender = everyone()
        .map(|p| p.gender)
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0] == w[1]);
    if !one_gender && !one_family {
        return Err(Error::conflict(
            "a room holds pilgrims of one gender, unless they are all one family",
        ));
    }
    let mut checked: Vec<UmrahFamilyId> = Vec::new();
    for family in newcomers.iter().filter_map(|p| p.family_id) {
        if checked.contains(&family) {
            continue;
        }
        checked.push(family);
        if family_size(family) > RoomType::Quint.capacity() {
            continue; // no room holds it: it splits as it must
        }
        if let Some((_, other)) = family_elsewhere.iter().find(|(f, _)| *f == family) {
            return Err(Error::conflict(format!(
                "the family is kept together: other members are already in room {other} in {}",
                room.city
            )));
        }
        let placed_here = occupants.len();
        let still_to_come = family_unroomed(family);
        if placed_here + still_to_come > capacity {
            return Err(Error::conflict(format!(
                "the family is kept together: this {} room has {} free places and the family needs {}; assign the whole family to a larger room",
                room.room_type,
                capacity - placed_here,
                still_to_come
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PassportNumber;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    pub(crate) fn pilgrim(gender: Gender, born: NaiveDate) -> Pilgrim {
        let number = PassportNumber::parse("AB1234567").unwrap();
        Pilgrim {
            id: PilgrimId::new(),
            tenant_id: TenantId::new(),
            group_id: UmrahGroupId::new(),
            branch_id: BranchId::new(),
            family_id: None,
            name: Name::parse("فاطمة").unwrap(),
            latin_name: LatinName::parse("Fatima Khan").unwrap(),
            gender,
            date_of_birth: born,
            nationality: Country::parse("PK").unwrap(),
            passport: StoredPassport {
                sealed: Sealed::from_bytes(vec![1]),
                index: BlindIndex::from_bytes(vec![2]),
                hint: format!("{number:?}"),
            },
            passport_expiry: date(2030, 1, 1),
            visa_status: VisaStatus::NotApplied,
            visa_number: None,
            client_id: None,
            mahram_id: None,
            mahram_relation: None,
            created_at: Utc::now(),
            version: 1,
        }
    }

    fn room(room_type: RoomType) -> Room {
        Room {
            id: RoomId::new(),
            tenant_id: TenantId::new(),
            group_id: UmrahGroupId::new(),
            branch_id: BranchId::new(),
            hotel: Name::parse("Hilton Makkah").unwrap(),
            city: City::Makkah,
            room_type,
            room_number: None,
            created_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn only_the_drawn_transitions_are_allowed() {
        use GroupStatus::*;
        let allowed: Vec<(GroupStatus, GroupStatus)> = GroupStatus::ALL
            .iter()
            .flat_map(|&a| GroupStatus::ALL.iter().map(move |&b| (a, b)))
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Planning, Open),
                (Planning, Cancelled),
                (Open, Planning),
                (Open, Closed),
                (Open, Cancelled),
                (Closed, Open),
                (Closed, Departed),
                (Closed, Cancelled),
                (Departed, Returned),
            ]
        );
    }

    #[test]
    fn seasons_are_hijri_or_gregorian_years() {
        for ok in ["1448H", "1447h", "2027", " 2100 "] {
            assert!(Season::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1448", "1999", "1399H", "14480H", "١٤٤٨H", "2027H"] {
            assert!(Season::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn group_dates_must_run_forward_and_capacity_be_bounded() {
        assert!(check_group(date(2027, 1, 10), date(2027, 1, 24), 40).is_ok());
        let Err(Error::Invalid(errors)) = check_group(date(2027, 1, 10), date(2027, 1, 10), 0)
        else {
            panic!("expected invalid");
        };
        assert_eq!(errors.as_slice().len(), 2);
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(age_on(date(1982, 6, 15), date(2027, 6, 14)), 44);
        assert_eq!(age_on(date(1982, 6, 15), date(2027, 6, 15)), 45);
    }

    #[test]
    fn passports_need_six_months_after_return() {
        let back = date(2027, 1, 24);
        assert!(passport_expires_too_soon(date(2027, 7, 23), back));
        assert!(!passport_expires_too_soon(date(2027, 7, 24), back));
    }

    #[test]
    fn the_mahram_rule_lists_every_woman_missing_one_and_follows_the_tenants_age() {
        let departure = date(2027, 1, 10);
        let mut young = pilgrim(Gender::Female, date(2000, 1, 1));
        let older = pilgrim(Gender::Female, date(1970, 1, 1));
        let mut other_young = pilgrim(Gender::Female, date(1999, 1, 1));
        let husband = pilgrim(Gender::Male, date(1995, 1, 1));
        other_young.mahram_id = Some(young.id); // a woman is no mahram
        other_young.mahram_relation = Some(MahramRelation::Brother);
        let list = vec![
            young.clone(),
            older.clone(),
            other_young.clone(),
            husband.clone(),
        ];
        let Err(Error::Invalid(errors)) = MahramRule::default().check_group(departure, &list)
        else {
            panic!("expected invalid");
        };
        assert_eq!(errors.as_slice().len(), 2, "{errors}");
        assert!(errors.to_string().contains("FATIMA KHAN"));

        young.mahram_id = Some(husband.id);
        young.mahram_relation = Some(MahramRelation::Husband);
        let list = vec![young, older, husband];
        assert!(MahramRule::default().check_group(departure, &list).is_ok());
        let off = MahramRule {
            min_age_without_mahram: 0,
        };
        assert!(off.check_group(departure, &[other_young]).is_ok());
    }

    #[test]
    fn rooms_never_overfill() {
        let r = room(RoomType::Double);
        let a = pilgrim(Gender::Male, date(1990, 1, 1));
        let b = pilgrim(Gender::Male, date(1991, 1, 1));
        let c = pilgrim(Gender::Male, date(1992, 1, 1));
        let none = |_| 0;
        assert!(
            check_room_assignment(
                &r,
                std::slice::from_ref(&a),
                std::slice::from_ref(&b),
                &[],
                &none,
                &none
            )
            .is_ok()
        );
        let full = check_room_assignment(&r, &[a, b], &[c], &[], &none, &none);
        assert!(matches!(full, Err(Error::Conflict { .. })), "{full:?}");
    }

    #[test]
    fn genders_mix_only_within_one_family() {
        let r = room(RoomType::Quad);
        let family = UmrahFamilyId::new();
        let mut husband = pilgrim(Gender::Male, date(1980, 1, 1));
        let mut wife = pilgrim(Gender::Female, date(1982, 1, 1));
        let stranger = pilgrim(Gender::Female, date(1985, 1, 1));
        let size = |_| 2;
        let unroomed = |_| 1;
        let none = |_| 0;
        assert!(
            check_room_assignment(&r, &[husband.clone()], &[stranger], &[], &none, &none).is_err()
        );
        husband.family_id = Some(family);
        wife.family_id = Some(family);
        assert!(check_room_assignment(&r, &[husband], &[wife], &[], &size, &unroomed).is_ok());
    }

    #[test]
    fn a_family_is_not_split_when_it_fits_one_room() {
        let family = UmrahFamilyId::new();
        let mut son = pilgrim(Gender::Male, date(2005, 1, 1));
        son.family_id = Some(family);
        let size = |_| 3;
        let unroomed = |_| 3;
        let double = room(RoomType::Double);
        let err =
            check_room_assignment(&double, &[], &[son.clone()], &[], &size, &unroomed).unwrap_err();
        assert!(err.to_string().contains("larger room"), "{err}");
        let triple = room(RoomType::Triple);
        assert!(check_room_assignment(&triple, &[], &[son.clone()], &[], &size, &unroomed).is_ok());
        let elsewhere = [(family, RoomId::new())];
        assert!(
            check_room_assignment(&triple, &[], &[son.clone()], &elsewhere, &size, &unroomed)
                .is_err()
        );
        // A family of seven cannot share one room: it may split.
        let big = |_| 7;
        assert!(check_room_assignment(&double, &[], &[son], &elsewhere, &big, &big).is_ok());
    }

    #[test]
    fn short_refs_and_names_are_checked() {
        assert!(ShortRef::parse(&"A".repeat(31), "room_number").is_err());
        assert_eq!(VisaStatus::parse("issued").unwrap(), VisaStatus::Issued);
        assert!(City::parse("jeddah").is_err());
    }
}
