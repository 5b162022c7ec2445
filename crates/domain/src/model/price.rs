//! Exact decimal prices.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A strictly positive exact decimal price that fits `NUMERIC(18,6)`: at most 6 decimal places
/// and 12 integer digits. Option premiums such as 0,255 keep every digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Price(Decimal);

/// Why a decimal is not a [`Price`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Zero or negative.
    #[error("a price must be positive")]
    NotPositive,
    /// More than 6 decimal places.
    #[error("a price has at most 6 decimal places")]
    TooPrecise,
    /// 10^12 or more.
    #[error("a price must be below 1,000,000,000,000")]
    TooLarge,
}

impl Price {
    /// The largest scale a price keeps (`NUMERIC(18,6)`).
    pub const MAX_SCALE: u32 = 6;

    /// Validates `value`; trailing zeros are normalised away.
    pub fn new(value: Decimal) -> Result<Self, PriceError> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            return Err(PriceError::NotPositive);
        }
        if value.scale() > Self::MAX_SCALE {
            return Err(PriceError::TooPrecise);
        }
        if value >= Decimal::from(1_000_000_000_000_i64) {
            return Err(PriceError::TooLarge);
        }
        Ok(Self(value))
    }

    /// The exact value.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Price {
    type Error = PriceError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Price::new(value)
    }
}

impl From<Price> for Decimal {
    fn from(value: Price) -> Self {
        value.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn keeps_premium_precision() {
        assert_eq!(Price::new(d("0.255")).unwrap().to_string(), "0.255");
        assert_eq!(Price::new(d("1.500")).unwrap().to_string(), "1.5");
    }

    #[test]
    fn refuses_invalid_values() {
        assert_eq!(Price::new(d("0")), Err(PriceError::NotPositive));
        assert_eq!(Price::new(d("-1")), Err(PriceError::NotPositive));
        assert_eq!(Price::new(d("0.0000001")), Err(PriceError::TooPrecise));
        assert_eq!(Price::new(d("1000000000000")), Err(PriceError::TooLarge));
    }
}
