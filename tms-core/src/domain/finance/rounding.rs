//! Integer division with a stated rounding rule, the one place where
//! finance turns an exact fraction into minor units.

use crate::error::{Error, Result};

/// How a fraction of a minor unit is settled.
///
/// - [`Rounding::HalfUp`]: halves round away from zero (commercial
///   rounding; `0.5 → 1`, `-0.5 → -1`). Used for tax per invoice line, the
///   rule most tax authorities (e.g. ZATCA for VAT) state.
/// - [`Rounding::HalfEven`]: halves round to the even neighbour (banker's
///   rounding; `0.5 → 0`, `1.5 → 2`). Used for currency conversion, where it
///   keeps many conversions from drifting one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Halves away from zero.
    HalfUp,
    /// Halves to the even neighbour.
    HalfEven,
}

impl Rounding {
    /// A stable name for storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
        }
    }

    /// `numerator / denominator` rounded by this rule; an error when the
    /// denominator is not positive or the result leaves `i64`.
    pub fn divide(self, numerator: i128, denominator: i128) -> Result<i64> {
        if denominator <= 0 {
            return Err(Error::internal("division by a non-positive denominator"));
        }
        let quotient = numerator / denominator; // truncates towards zero
        let remainder = numerator % denominator; // same sign as numerator
        let twice = remainder.unsigned_abs().saturating_mul(2);
        let den = denominator.unsigned_abs();
        let away = match twice.cmp(&den) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => match self {
                Rounding::HalfUp => true,
                Rounding::HalfEven => quotient % 2 != 0,
            },
        };
        let rounded = if away {
            quotient + numerator.signum()
        } else {
            quotient
        };
        i64::try_from(rounded).map_err(|_| Error::invalid("amount", "is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn halves_follow_the_stated_rule() {
        let cases = [
            (5, 10, 1, 0),
            (15, 10, 2, 2),
            (25, 10, 3, 2),
            (-5, 10, -1, 0),
            (-15, 10, -2, -2),
            (14, 10, 1, 1),
            (16, 10, 2, 2),
            (-16, 10, -2, -2),
            (0, 7, 0, 0),
        ];
        for (n, d, up, even) in cases {
            assert_eq!(Rounding::HalfUp.divide(n, d).unwrap(), up, "{n}/{d} up");
            assert_eq!(
                Rounding::HalfEven.divide(n, d).unwrap(),
                even,
                "{n}/{d} even"
            );
        }
    }

    #[test]
    fn bad_denominators_and_overflow_are_errors() {
        assert!(Rounding::HalfUp.divide(1, 0).is_err());
        assert!(Rounding::HalfUp.divide(1, -3).is_err());
        assert!(
            Rounding::HalfUp
                .divide(i128::from(i64::MAX) * 4, 2)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn the_result_is_within_half_a_unit(n in -1_000_000_000_000i128..1_000_000_000_000, d in 1i128..1_000_000) {
            for rule in [Rounding::HalfUp, Rounding::HalfEven] {
                let q = i128::from(rule.divide(n, d).unwrap());
                // |q·d − n| ≤ d/2, i.e. |2(q·d − n)| ≤ d.
                prop_assert!((2 * (q * d - n)).abs() <= d);
            }
        }
    }
}
