//! Clients: the people and companies an agency sells to.
//!
//! A [`Client`] belongs to one branch (an operational record, scoped like a
//! booking). Its name is kept exactly as typed, in any script; a Latin
//! transliteration ([`LatinName`]) is what goes on airline tickets. The
//! passport number is personal data: a `Client` only ever holds it sealed
//! ([`SealedPassport`]: AES-GCM ciphertext plus a blind index for exact
//! search), so a client can be logged, listed and stored without the number
//! appearing anywhere; the clients service opens it with the key ring when
//! a caller may see it.
//!
//! Consent to be contacted is recorded per [`ConsentChannel`] as an
//! append-only history of [`ConsentRecord`]s; the newest record of a
//! channel is the current answer.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{Email, Name, Phone};
use crate::error::{Error, Result};
use crate::id::{BranchId, ClientId, TenantId, UserId};
use crate::security::keyring::{BlindIndex, Sealed};

/// A person or a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A traveller.
    Person,
    /// A company (corporate travel).
    Company,
}

impl ClientKind {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientKind::Person => "person",
            ClientKind::Company => "company",
        }
    }

    /// Parses [`ClientKind::as_str`]'s form (any case).
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "person" => Ok(ClientKind::Person),
            "company" => Ok(ClientKind::Company),
            _ => Err(Error::invalid("kind", "must be person or company")),
        }
    }
}

/// A name in Latin letters as printed on a ticket: letters A-Z (upper case),
/// spaces, `-` and `'`, 1 to 100 characters. Lower case is accepted and
/// upper-cased; runs of spaces collapse to one.
///
/// ```
/// use tms_core::domain::LatinName;
/// assert_eq!(LatinName::parse(" abdullah  bin-omar ").unwrap().as_str(), "ABDULLAH BIN-OMAR");
/// assert!(LatinName::parse("عبد الله").is_err());
/// assert!(LatinName::parse("Zoë").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct LatinName(String);

impl LatinName {
    /// Longest accepted transliteration, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses and upper-cases a transliteration.
    pub fn parse(raw: &str) -> Result<Self> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            return Err(Error::invalid("latin_name", "must not be empty"));
        }
        if collapsed.len() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "latin_name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        let ok = collapsed
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, ' ' | '-' | '\''))
            && collapsed.chars().any(|c| c.is_ascii_alphabetic());
        if !ok {
            return Err(Error::invalid(
                "latin_name",
                "may contain only Latin letters A-Z, spaces, - and '",
            ));
        }
        Ok(Self(collapsed.to_ascii_uppercase()))
    }

    /// The transliteration.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LatinName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> serde::Deserialize<'de> for LatinName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Every ISO 3166-1 alpha-2 code, sorted (from the Debian `iso-codes` data).
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH \
BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR \
GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR \
KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE \
RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL \
TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A country as an ISO 3166-1 alpha-2 code (`SA`, `PK`, `GB`), checked
/// against the list of assigned codes.
///
/// ```
/// use tms_core::domain::Country;
/// assert_eq!(Country::parse("pk").unwrap().as_str(), "PK");
/// assert!(Country::parse("XX").is_err());
/// assert!(Country::parse("SAU").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses a code, folding lower case to upper case.
    pub fn parse(raw: &str) -> Result<Self> {
        let code = raw.trim().to_ascii_uppercase();
        let invalid = || Error::invalid("nationality", "must be an ISO 3166-1 alpha-2 code");
        let bytes: [u8; 2] = code.as_bytes().try_into().map_err(|_| invalid())?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(invalid());
        }
        if !ISO_3166_ALPHA2.split(' ').any(|c| c == code) {
            return Err(invalid());
        }
        Ok(Self(bytes))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ever built from two ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A passport number as stored: sealed with the key ring (table `clients`,
/// field `passport_number`, row = the client id) and its blind index for
/// exact search. Neither reveals the number; `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPassport {
    /// The AES-GCM ciphertext.
    pub sealed: Sealed,
    /// The keyed hash for exact search.
    pub index: BlindIndex,
}

impl fmt::Debug for SealedPassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedPassport([sealed])")
    }
}

/// A client: a person or company the agency sells to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Identity.
    pub id: ClientId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The branch that looks after the client.
    pub branch_id: BranchId,
    /// Person or company.
    pub kind: ClientKind,
    /// The name exactly as typed, any script.
    pub name: Name,
    /// The Latin transliteration for tickets.
    pub latin_name: Option<LatinName>,
    /// Phone in E.164.
    pub phone: Option<Phone>,
    /// Email, normalised.
    pub email: Option<Email>,
    /// Date of birth (people).
    pub date_of_birth: Option<NaiveDate>,
    /// Nationality.
    pub nationality: Option<Country>,
    /// The passport number, sealed.
    pub passport: Option<SealedPassport>,
    /// When the passport expires.
    pub passport_expires_on: Option<NaiveDate>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl Client {
    /// The key that name-prefix search compares with: the name lower-cased
    /// (a no-op for scripts without case, so Arabic matches by exact prefix
    /// and Latin case-insensitively).
    pub fn search_key(name: &str) -> String {
        name.trim().to_lowercase()
    }
}

/// A channel a client may agree to be contacted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// Service and marketing email.
    Email,
    /// WhatsApp messages.
    Whatsapp,
    /// Marketing campaigns on any channel.
    Marketing,
}

impl ConsentChannel {
    /// Every channel.
    pub const ALL: [ConsentChannel; 3] = [
        ConsentChannel::Email,
        ConsentChannel::Whatsapp,
        ConsentChannel::Marketing,
    ];

    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConsentChannel::Email => "email",
            ConsentChannel::Whatsapp => "whatsapp",
            ConsentChannel::Marketing => "marketing",
        }
    }

    /// Parses [`ConsentChannel::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "email" => Ok(ConsentChannel::Email),
            "whatsapp" => Ok(ConsentChannel::Whatsapp),
            "marketing" => Ok(ConsentChannel::Marketing),
            _ => Err(Error::invalid(
                "channel",
                "must be email, whatsapp or marketing",
            )),
        }
    }
}

/// Where a consent answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The client filled in a form.
    Form,
    /// A bulk import.
    Import,
    /// Staff recorded what the client said.
    Staff,
}

impl ConsentSource {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Form => "form",
            ConsentSource::Import => "import",
            ConsentSource::Staff => "staff",
        }
    }

    /// Parses [`ConsentSource::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "form" => Ok(ConsentSource::Form),
            "import" => Ok(ConsentSource::Import),
            "staff" => Ok(ConsentSource::Staff),
            _ => Err(Error::invalid("source", "must be form, import or staff")),
        }
    }
}

/// One consent answer: granted or withdrawn, on one channel, at one time.
/// Records are never changed; a new answer is a new record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Identity (a UUIDv7, so records sort by time).
    pub id: uuid::Uuid,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The client who answered.
    pub client_id: ClientId,
    /// The channel.
    pub channel: ConsentChannel,
    /// Granted (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// Where the answer came from.
    pub source: ConsentSource,
    /// When it was given.
    pub at: DateTime<Utc>,
    /// The user who recorded it, if a user did.
    pub recorded_by: Option<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_names_are_upper_cased_and_other_scripts_rejected() {
        assert_eq!(
            LatinName::parse("o'brien-smith").unwrap().as_str(),
            "O'BRIEN-SMITH"
        );
        for bad in ["", "   ", "محمد", "A1", "a.b", "--", &"A".repeat(101)] {
            assert!(LatinName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn countries_are_assigned_alpha2_codes() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        assert_eq!(Country::parse(" sa ").unwrap().as_str(), "SA");
        for bad in ["", "S", "XX", "ZZ", "S1", "ÅB", "SAU"] {
            assert!(Country::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn search_keys_fold_latin_case_and_keep_other_scripts() {
        assert_eq!(Client::search_key("Amina KHAN"), "amina khan");
        assert_eq!(Client::search_key("عبد الله"), "عبد الله");
    }

    #[test]
    fn kinds_channels_and_sources_round_trip() {
        for kind in [ClientKind::Person, ClientKind::Company] {
            assert_eq!(ClientKind::parse(kind.as_str()).unwrap(), kind);
        }
        for channel in ConsentChannel::ALL {
            assert_eq!(ConsentChannel::parse(channel.as_str()).unwrap(), channel);
        }
        for source in [
            ConsentSource::Form,
            ConsentSource::Import,
            ConsentSource::Staff,
        ] {
            assert_eq!(ConsentSource::parse(source.as_str()).unwrap(), source);
        }
        assert!(ClientKind::parse("robot").is_err());
    }
}
