//! Money: integer minor units and an ISO-4217 currency. No floats anywhere.
//!
//! Amounts are parsed from and formatted to decimal strings exactly, with the
//! currency's own number of decimals (JPY 0, USD 2, KWD 3). Adding, subtracting
//! or comparing different currencies is an error, never a silent conversion;
//! overflow is an error, never a wrap.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};

/// Active ISO-4217 codes with their minor-unit exponents, sorted by code.
///
/// A table rather than a dependency: it is small, changes a few times a
/// decade, and a `const` lookup keeps `Currency` `Copy` and allocation-free.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2),
    ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2),
    ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2),
    ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// An ISO-4217 currency and its number of minor-unit digits.
///
/// ```
/// use tms_core::money::Currency;
/// let kwd = Currency::parse("kwd").unwrap();
/// assert_eq!((kwd.code(), kwd.exponent()), ("KWD", 3));
/// assert!(Currency::parse("XYZ").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// Saudi riyal.
    pub const SAR: Currency = Currency::known(*b"SAR", 2);
    /// Pakistani rupee.
    pub const PKR: Currency = Currency::known(*b"PKR", 2);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency::known(*b"JPY", 0);
    /// Kuwaiti dinar (three decimals).
    pub const KWD: Currency = Currency::known(*b"KWD", 3);

    const fn known(code: [u8; 3], exponent: u8) -> Self {
        Self { code, exponent }
    }

    /// Parses a three-letter code (case-insensitive) of an active currency.
    pub fn parse(raw: &str) -> Result<Self> {
        let upper = raw.trim().to_ascii_uppercase();
        let found = CURRENCIES
            .binary_search_by(|(code, _)| (*code).cmp(upper.as_str()))
            .ok()
            .and_then(|i| CURRENCIES.get(i));
        match found {
            Some((code, exponent)) => {
                let b = code.as_bytes();
                Ok(Self::known([b[0], b[1], b[2]], *exponent))
            }
            None => Err(Error::invalid(
                "currency",
                "is not an ISO-4217 currency code",
            )),
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Built only from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Digits after the decimal point (JPY 0, USD 2, KWD 3).
    pub const fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Minor units in one major unit (JPY 1, USD 100, KWD 1000).
    pub const fn minor_per_major(&self) -> i64 {
        10_i64.pow(self.exponent as u32)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An amount of one currency, in integer minor units.
///
/// ```
/// use tms_core::money::{Currency, Money};
/// let fare = Money::parse("1250.50", Currency::SAR).unwrap();
/// let fee = Money::parse("49.5", Currency::SAR).unwrap();
/// let total = fare.checked_add(fee).unwrap();
/// assert_eq!(total.to_string(), "1300.00 SAR");
/// assert_eq!(total.minor_units(), 130_000);
///
/// // Different currencies never mix silently.
/// let pkr = Money::parse("100", Currency::PKR).unwrap();
/// assert!(total.checked_add(pkr).is_err());
/// // More decimals than the currency has is an error, not a rounding.
/// assert!(Money::parse("1.005", Currency::USD).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// `minor` minor units of `currency` (cents for USD, fils for KWD).
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero of `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    /// Parses a decimal string such as `"1250.5"`, `"-3"` or `"0.125"`.
    ///
    /// Accepted: an optional `-`, digits, and optionally `.` followed by at
    /// most the currency's exponent of digits. No grouping separators, no
    /// exponent notation, no surrounding text.
    pub fn parse(raw: &str, currency: Currency) -> Result<Self> {
        let invalid = |why: String| Error::invalid("amount", why);
        let s = raw.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (digits, None),
        };
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) {
            return Err(invalid(format!("{s:?} is not a decimal amount")));
        }
        let fraction = fraction.unwrap_or("");
        if !all_digits(fraction) || (digits.ends_with('.') && fraction.is_empty()) {
            return Err(invalid(format!("{s:?} is not a decimal amount")));
        }
        let exponent = usize::from(currency.exponent());
        if fraction.len() > exponent {
            return Err(invalid(format!(
                "{} has {exponent} decimal places; {s:?} has {}",
                currency.code(),
                fraction.len()
            )));
        }
        // Accumulate in i128 so that i64::MIN, whose magnitude has no i64,
        // still parses; 39 digits cannot overflow i128, so cap the length.
        let too_large = || invalid(format!("{s:?} is too large"));
        if whole.len() + exponent > 38 {
            return Err(too_large());
        }
        let mut magnitude: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            magnitude = magnitude * 10 + i128::from(b - b'0');
        }
        for _ in fraction.len()..exponent {
            magnitude *= 10;
        }
        let signed = if negative { -magnitude } else { magnitude };
        let minor = i64::try_from(signed).map_err(|_| too_large())?;
        Ok(Self::from_minor(minor, currency))
    }

    /// Parses an amount and a currency code given separately.
    pub fn parse_with_code(amount: &str, currency: &str) -> Result<Self> {
        Self::parse(amount, Currency::parse(currency)?)
    }

    /// The amount in minor units.
    pub const fn minor_units(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// The amount as a plain decimal string with exactly the currency's
    /// decimals: `"1300.00"`, `"-0.050"`, `"1500"`.
    pub fn to_decimal_string(&self) -> String {
        let exponent = u32::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{abs}");
        }
        let per = 10_u64.pow(exponent);
        format!(
            "{sign}{}.{:0width$}",
            abs / per,
            abs % per,
            width = exponent as usize
        )
    }

    fn same_currency(&self, other: &Money, op: &str) -> Result<()> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Error::invalid(
                "currency",
                format!("cannot {op} {} and {}", self.currency, other.currency),
            ))
        }
    }

    fn overflow() -> Error {
        Error::invalid("amount", "is too large")
    }

    /// `self + other`; an error for different currencies or on overflow.
    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.same_currency(&other, "add")?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or_else(Self::overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// `self - other`; an error for different currencies or on overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.same_currency(&other, "subtract")?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or_else(Self::overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// `self × quantity`; an error on overflow.
    pub fn checked_mul(self, quantity: i64) -> Result<Money> {
        let minor = self
            .minor
            .checked_mul(quantity)
            .ok_or_else(Self::overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// `-self`; an error on overflow (`i64::MIN`).
    pub fn checked_neg(self) -> Result<Money> {
        let minor = self.minor.checked_neg().ok_or_else(Self::overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// Compares two amounts of the same currency; an error otherwise.
    pub fn try_cmp(&self, other: &Money) -> Result<Ordering> {
        self.same_currency(other, "compare")?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// Sums amounts of one currency; zero of `currency` when empty.
    pub fn sum(currency: Currency, amounts: impl IntoIterator<Item = Money>) -> Result<Money> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} {})", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// JSON form: `{"amount": "1250.50", "currency": "SAR"}` — the amount is a
/// string so that no JSON reader turns it into a float.
#[derive(serde::Serialize, serde::Deserialize)]
struct MoneyJson {
    amount: String,
    currency: Currency,
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        MoneyJson {
            amount: self.to_decimal_string(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let json = MoneyJson::deserialize(d)?;
        Money::parse(&json.amount, json.currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table_is_sorted_so_binary_search_works() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, exponent) in CURRENCIES {
            let currency = Currency::parse(code).unwrap();
            assert_eq!((currency.code(), currency.exponent()), (*code, *exponent));
        }
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::parse("JPY").unwrap(), Currency::JPY);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("usd").unwrap(), Currency::USD);
        assert_eq!(Currency::parse("CLF").unwrap().exponent(), 4);
    }

    #[test]
    fn parsing_is_exact_for_each_exponent() {
        assert_eq!(
            Money::parse("1500", Currency::JPY).unwrap().minor_units(),
            1500
        );
        assert_eq!(
            Money::parse("12.345", Currency::KWD).unwrap().minor_units(),
            12_345
        );
        assert_eq!(
            Money::parse("12.3", Currency::KWD).unwrap().minor_units(),
            12_300
        );
        assert_eq!(
            Money::parse("-0.05", Currency::USD).unwrap().minor_units(),
            -5
        );
        assert_eq!(
            Money::parse("0.1", Currency::USD).unwrap().minor_units(),
            10
        );
    }

    #[test]
    fn malformed_amounts_are_rejected_with_a_reason() {
        for bad in [
            "", "-", ".5", "1.", "1.2.3", "1,000", "1e3", "+1", "--1", "١٢", "1 000", "abc",
        ] {
            assert!(
                Money::parse(bad, Currency::USD).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        assert!(Money::parse("99999999999999999999", Currency::USD).is_err());
    }

    #[test]
    fn formatting_pads_to_the_exponent() {
        assert_eq!(
            Money::from_minor(5, Currency::USD).to_decimal_string(),
            "0.05"
        );
        assert_eq!(
            Money::from_minor(-5, Currency::KWD).to_decimal_string(),
            "-0.005"
        );
        assert_eq!(
            Money::from_minor(1500, Currency::JPY).to_string(),
            "1500 JPY"
        );
        assert_eq!(
            Money::from_minor(i64::MIN, Currency::USD).to_decimal_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn mixing_currencies_is_an_error() {
        let sar = Money::from_minor(100, Currency::SAR);
        let pkr = Money::from_minor(100, Currency::PKR);
        assert!(sar.checked_add(pkr).is_err());
        assert!(sar.checked_sub(pkr).is_err());
        assert!(sar.try_cmp(&pkr).is_err());
        assert_eq!(
            sar.try_cmp(&Money::from_minor(99, Currency::SAR)).unwrap(),
            Ordering::Greater
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let max = Money::from_minor(i64::MAX, Currency::USD);
        assert!(
            max.checked_add(Money::from_minor(1, Currency::USD))
                .is_err()
        );
        assert!(max.checked_mul(2).is_err());
        assert!(
            Money::from_minor(i64::MIN, Currency::USD)
                .checked_neg()
                .is_err()
        );
    }

    #[test]
    fn json_carries_the_amount_as_a_string() {
        let money = Money::from_minor(130_050, Currency::SAR);
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"amount":"1300.50","currency":"SAR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1.001","currency":"SAR"}"#).is_err());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(CURRENCIES).prop_map(|(code, _)| Currency::parse(code).unwrap())
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(minor in any::<i64>(), currency in any_currency()) {
            let money = Money::from_minor(minor, currency);
            prop_assert_eq!(Money::parse(&money.to_decimal_string(), currency).unwrap(), money);
        }

        #[test]
        fn parse_never_panics(raw in "\\PC{0,40}") {
            let _ = Money::parse(&raw, Currency::KWD);
        }

        #[test]
        fn addition_matches_integer_addition(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let sum = Money::from_minor(a, Currency::USD).checked_add(Money::from_minor(b, Currency::USD)).unwrap();
            prop_assert_eq!(sum.minor_units(), a + b);
        }
    }
}
