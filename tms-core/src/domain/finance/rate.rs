//! Exchange rates and tax rates, both exact: a rate is a decimal fraction
//! kept as two integers, a tax rate is basis points. No floats anywhere.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::Rounding;
use crate::error::{Error, Result};
use crate::id::{ExchangeRateId, TenantId};
use crate::money::{Currency, Money};

/// The most decimal places an entered rate may have.
pub const MAX_RATE_DECIMALS: u32 = 12;

/// A positive exact rate: `units / 10^scale` major units of the quote
/// currency per major unit of the base currency (`74.2512` PKR per SAR is
/// `742512 / 10^4`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    units: i64,
    scale: u32,
}

impl Rate {
    /// Parses a positive decimal such as `"74.2512"` (at most
    /// [`MAX_RATE_DECIMALS`] decimals, no sign, no exponent).
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = || Error::invalid("rate", "must be a positive decimal such as 74.2512");
        let s = raw.trim();
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || s.ends_with('.') {
            return Err(invalid());
        }
        let scale = u32::try_from(fraction.len()).map_err(|_| invalid())?;
        if scale > MAX_RATE_DECIMALS || whole.len() + fraction.len() > 18 {
            return Err(invalid());
        }
        let mut units: i64 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            units = units * 10 + i64::from(b - b'0');
        }
        Self::new(units, scale)
    }

    /// `units / 10^scale`; positive, scale at most [`MAX_RATE_DECIMALS`].
    pub fn new(units: i64, scale: u32) -> Result<Self> {
        if units <= 0 || scale > MAX_RATE_DECIMALS {
            return Err(Error::invalid("rate", "must be positive"));
        }
        Ok(Self { units, scale })
    }

    /// The integer numerator.
    pub const fn units(self) -> i64 {
        self.units
    }

    /// The power of ten that divides [`Rate::units`].
    pub const fn scale(self) -> u32 {
        self.scale
    }

    /// The rate as an exact decimal string, as entered (`"74.2512"`).
    pub fn to_decimal_string(self) -> String {
        if self.scale == 0 {
            return self.units.to_string();
        }
        let per = 10_i64.pow(self.scale);
        format!(
            "{}.{:0width$}",
            self.units / per,
            self.units % per,
            width = self.scale as usize
        )
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({})", self.to_decimal_string())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

/// An exchange rate a tenant entered: `1 base = rate quote` on a date, with
/// where it came from (a bank, the central bank's fixing, a supplier's
/// quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRate {
    /// Its id, recorded on every conversion that used it.
    pub id: ExchangeRateId,
    /// Whose rate.
    pub tenant_id: TenantId,
    /// The currency converted from.
    pub base: Currency,
    /// The currency converted to.
    pub quote: Currency,
    /// Quote per base.
    pub rate: Rate,
    /// The day the rate applies to.
    pub effective_on: NaiveDate,
    /// Where the rate came from, 1 to 100 characters.
    pub source: String,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
}

/// The result of a conversion: both amounts and the rate used, so that the
/// caller records all three (the issue: "every conversion explicit and
/// recorded with the rate used").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    /// The amount converted.
    pub from: Money,
    /// The converted amount, rounded half-even to the quote's minor unit.
    pub to: Money,
    /// The rate's id.
    pub rate_id: ExchangeRateId,
    /// The rate.
    pub rate: Rate,
    /// The rounding rule applied: always [`Rounding::HalfEven`].
    pub rounding: Rounding,
}

impl ExchangeRate {
    /// Checks the parts of a new rate.
    pub fn validate(&self) -> Result<()> {
        if self.base == self.quote {
            return Err(Error::invalid(
                "quote",
                "must differ from the base currency",
            ));
        }
        let len = self.source.trim().chars().count();
        if len == 0 || len > 100 {
            return Err(Error::invalid("source", "must be 1 to 100 characters"));
        }
        Ok(())
    }

    /// Converts `amount` (in the base currency) to the quote currency,
    /// exactly, then rounds half-even once to the quote's minor unit:
    /// `to_minor = from_minor × units × 10^e_quote / (10^scale × 10^e_base)`.
    pub fn convert(&self, amount: Money) -> Result<Conversion> {
        if amount.currency() != self.base {
            return Err(Error::invalid(
                "currency",
                format!(
                    "the rate converts {} to {}, not {}",
                    self.base,
                    self.quote,
                    amount.currency()
                ),
            ));
        }
        let pow = |e: u32| 10_i128.pow(e);
        let numerator = i128::from(amount.minor_units())
            .checked_mul(i128::from(self.rate.units))
            .and_then(|n| n.checked_mul(pow(u32::from(self.quote.exponent()))))
            .ok_or_else(|| Error::invalid("amount", "is too large"))?;
        let denominator = pow(self.rate.scale) * pow(u32::from(self.base.exponent()));
        let minor = Rounding::HalfEven.divide(numerator, denominator)?;
        Ok(Conversion {
            from: amount,
            to: Money::from_minor(minor, self.quote),
            rate_id: self.id,
            rate: self.rate,
            rounding: Rounding::HalfEven,
        })
    }
}

/// A tax rate in basis points: `1500` is 15 %. 0 to 10 000 (100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct TaxRate(u32);

impl TaxRate {
    /// No tax.
    pub const ZERO: TaxRate = TaxRate(0);

    /// `basis_points` / 100 percent.
    pub fn from_basis_points(basis_points: u32) -> Result<Self> {
        if basis_points > 10_000 {
            return Err(Error::invalid(
                "tax_rate",
                "must be between 0 and 10000 basis points",
            ));
        }
        Ok(Self(basis_points))
    }

    /// The rate in basis points.
    pub const fn basis_points(self) -> u32 {
        self.0
    }

    /// The tax on `net`, rounded half-up (away from zero) to the minor unit.
    pub fn tax_on(self, net: Money) -> Result<Money> {
        let minor =
            Rounding::HalfUp.divide(i128::from(net.minor_units()) * i128::from(self.0), 10_000)?;
        Ok(Money::from_minor(minor, net.currency()))
    }
}

impl TryFrom<u32> for TaxRate {
    type Error = Error;
    fn try_from(bp: u32) -> Result<Self> {
        Self::from_basis_points(bp)
    }
}

impl From<TaxRate> for u32 {
    fn from(rate: TaxRate) -> u32 {
        rate.0
    }
}

/// A named tax rate a tenant configured (`VAT15`, "VAT 15 %", 1500 bp).
///
/// Invoice lines name it by `code`; the line then carries the rate itself
/// too, so an issued invoice never changes when the tenant's table does.
/// Rates are added, never edited: a new rate gets a new code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTaxRate {
    /// Whose rate.
    pub tenant_id: TenantId,
    /// A short code, unique per tenant: 1 to 20 of `A-Z`, `0-9`, `_`, `-`.
    pub code: String,
    /// The name printed on invoices, 1 to 100 characters: `VAT 15 %`.
    pub name: String,
    /// The rate.
    pub rate: TaxRate,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
}

impl TenantTaxRate {
    /// Checks the code and name; the rate is checked by [`TaxRate`].
    ///
    /// ```
    /// use tms_core::domain::finance::{TaxRate, TenantTaxRate};
    /// let vat = TenantTaxRate::new(
    ///     tms_core::id::TenantId::new(), "VAT15", "VAT 15 %",
    ///     TaxRate::from_basis_points(1500).unwrap(), chrono::Utc::now(),
    /// ).unwrap();
    /// assert_eq!(vat.code, "VAT15");
    /// assert!(TenantTaxRate::new(vat.tenant_id, "vat 15", "x", vat.rate, vat.created_at).is_err());
    /// ```
    pub fn new(
        tenant_id: TenantId,
        code: &str,
        name: &str,
        rate: TaxRate,
        created_at: DateTime<Utc>,
    ) -> Result<Self> {
        let code = Self::parse_code(code)?;
        let name = name.trim();
        let len = name.chars().count();
        if len == 0 || len > 100 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "must have 1 to 100 characters, no control characters",
            ));
        }
        Ok(Self {
            tenant_id,
            code,
            name: name.to_owned(),
            rate,
            created_at,
        })
    }

    /// Checks a code: 1 to 20 of `A-Z`, `0-9`, `_`, `-`.
    pub fn parse_code(raw: &str) -> Result<String> {
        let ok = (1..=20).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(raw.to_owned())
        } else {
            Err(Error::invalid(
                "code",
                "must be 1 to 20 letters A-Z, digits, '_' or '-'",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(base: Currency, quote: Currency, raw: &str) -> ExchangeRate {
        ExchangeRate {
            id: ExchangeRateId::new(),
            tenant_id: TenantId::new(),
            base,
            quote,
            rate: Rate::parse(raw).unwrap(),
            effective_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            source: "State Bank of Pakistan".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn rates_parse_exactly_and_reject_garbage() {
        let r = Rate::parse("74.2512").unwrap();
        assert_eq!((r.units(), r.scale()), (742_512, 4));
        assert_eq!(r.to_string(), "74.2512");
        assert_eq!(Rate::parse("0.000001").unwrap().to_string(), "0.000001");
        for bad in [
            "",
            "0",
            "0.000",
            "-1",
            "1.",
            ".5",
            "1e3",
            "1,5",
            "abc",
            "1.0000000000001",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sar_to_pkr_is_exact_and_rounds_half_even() {
        let r = rate(Currency::SAR, Currency::PKR, "74.25");
        let c = r
            .convert(Money::parse("1000.00", Currency::SAR).unwrap())
            .unwrap();
        assert_eq!(c.to, Money::parse("74250.00", Currency::PKR).unwrap());
        assert_eq!(c.rate_id, r.id);
        // 0.02 SAR × 74.25 = 1.485 PKR → 1.48 (half-even: 8 is even).
        let c = r
            .convert(Money::parse("0.02", Currency::SAR).unwrap())
            .unwrap();
        assert_eq!(c.to.minor_units(), 148);
        // 0.06 SAR × 74.25 = 4.455 → 4.46 (half-even: 5 → 6).
        let c = r
            .convert(Money::parse("0.06", Currency::SAR).unwrap())
            .unwrap();
        assert_eq!(c.to.minor_units(), 446);
    }

    #[test]
    fn exponents_differ_between_currencies() {
        // 1 KWD = 487.5 JPY: 1.234 KWD → 601.575 JPY → 602.
        let r = rate(Currency::KWD, Currency::JPY, "487.5");
        let c = r
            .convert(Money::parse("1.234", Currency::KWD).unwrap())
            .unwrap();
        assert_eq!(c.to, Money::from_minor(602, Currency::JPY));
    }

    #[test]
    fn converting_the_wrong_currency_is_an_error() {
        let r = rate(Currency::SAR, Currency::PKR, "74.25");
        assert!(r.convert(Money::from_minor(1, Currency::USD)).is_err());
        let same = rate(Currency::SAR, Currency::SAR, "1");
        assert!(same.validate().is_err());
    }

    #[test]
    fn tax_rounds_half_up_per_line() {
        let vat = TaxRate::from_basis_points(1500).unwrap();
        // 0.10 × 15 % = 0.015 → 0.02.
        assert_eq!(
            vat.tax_on(Money::from_minor(10, Currency::SAR))
                .unwrap()
                .minor_units(),
            2
        );
        assert_eq!(
            vat.tax_on(Money::from_minor(-10, Currency::SAR))
                .unwrap()
                .minor_units(),
            -2
        );
        assert_eq!(
            vat.tax_on(Money::from_minor(100_000, Currency::SAR))
                .unwrap()
                .minor_units(),
            15_000
        );
        assert!(TaxRate::from_basis_points(10_001).is_err());
        assert!(serde_json::from_str::<TaxRate>("20000").is_err());
    }

    proptest! {
        #[test]
        fn conversion_is_within_half_a_minor_unit_of_the_exact_value(
            minor in -10_000_000_000i64..10_000_000_000,
            units in 1i64..10_000_000,
            scale in 0u32..7,
        ) {
            let mut r = rate(Currency::SAR, Currency::KWD, "1");
            r.rate = Rate::new(units, scale).unwrap();
            let c = r.convert(Money::from_minor(minor, Currency::SAR)).unwrap();
            // exact = minor·units·10^3 / (10^scale·10^2)
            let num = i128::from(minor) * i128::from(units) * 1000;
            let den = 10_i128.pow(scale) * 100;
            prop_assert!((2 * (i128::from(c.to.minor_units()) * den - num)).abs() <= den);
        }

        #[test]
        fn rate_parse_never_panics(raw in "\\PC{0,30}") {
            let _ = Rate::parse(&raw);
        }
    }
}
