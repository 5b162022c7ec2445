//! Reading prices written the Brazilian way (`1.250,50`, `1,04`) or with dot decimals
//! (`25.50`, `0.255`), exactly.

use rust_decimal::Decimal;

use crate::model::Price;

/// How a message writes its decimals, decided from all of its prices together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A comma decimal appears: dots are thousands separators.
    Brazilian,
    /// A dot decimal that cannot be a thousands group appears (`25.50`, `0.35`).
    DotDecimal,
    /// Nothing tells: `125.300` reads as thousands, `0.255` as decimal.
    Unknown,
}

/// Where the separators of a number are, from one pass over its bytes.
#[derive(Debug, Clone, Copy)]
struct Separators {
    commas: usize,
    dots: usize,
    last_comma: Option<usize>,
    last_dot: Option<usize>,
}

impl Separators {
    fn of(raw: &str) -> Self {
        let mut s = Separators {
            commas: 0,
            dots: 0,
            last_comma: None,
            last_dot: None,
        };
        for (i, b) in raw.bytes().enumerate() {
            match b {
                b',' => {
                    s.commas += 1;
                    s.last_comma = Some(i);
                }
                b'.' => {
                    s.dots += 1;
                    s.last_dot = Some(i);
                }
                _ => {}
            }
        }
        s
    }
}

impl Style {
    /// The style of one number, if it shows one.
    pub(crate) fn of(raw: &str) -> Style {
        let sep = Separators::of(raw);
        if sep.commas == 1 && sep.last_comma > sep.last_dot {
            return Style::Brazilian;
        }
        if let (1, 0, Some(dot)) = (sep.dots, sep.commas, sep.last_dot)
            && (raw.len() - dot - 1 != 3 || &raw[..dot] == "0")
        {
            return Style::DotDecimal;
        }
        Style::Unknown
    }

    /// Combines the evidence of two numbers; a comma decimal wins.
    pub(crate) fn merge(self, other: Style) -> Style {
        match (self, other) {
            (Style::Brazilian, _) | (_, Style::Brazilian) => Style::Brazilian,
            (Style::DotDecimal, _) | (_, Style::DotDecimal) => Style::DotDecimal,
            _ => Style::Unknown,
        }
    }
}

/// Digits as a mantissa, refusing absurd lengths.
fn push_digits(mantissa: &mut i128, digits: &str) -> Result<(), String> {
    for b in digits.bytes() {
        *mantissa = *mantissa * 10 + i128::from(b - b'0');
        if *mantissa > 10_i128.pow(24) {
            return Err("too many digits".into());
        }
    }
    Ok(())
}

/// Reads `raw` (digits with `.`/`,` separators) as a price, in the message's `style`.
pub(crate) fn read_price(raw: &str, style: Style) -> Result<Price, String> {
    let sep = Separators::of(raw);
    let decimal_at = match (sep.last_comma, sep.last_dot) {
        (Some(c), Some(d)) => Some(c.max(d)),
        (Some(c), None) => (sep.commas == 1).then_some(c),
        (None, Some(d)) => {
            let single = sep.dots == 1;
            let decimal = match style {
                Style::DotDecimal => single,
                Style::Brazilian | Style::Unknown => {
                    single && (&raw[..d] == "0" || raw.len() - d - 1 != 3)
                }
            };
            decimal.then_some(d)
        }
        (None, None) => None,
    };
    let (int_part, frac_part) = match decimal_at {
        Some(at) => (&raw[..at], &raw[at + 1..]),
        None => (raw, ""),
    };
    if frac_part.contains([',', '.']) {
        return Err("mixed separators".into());
    }
    let mut mantissa: i128 = 0;
    let grouped = int_part.contains([',', '.']);
    for (i, group) in int_part.split([',', '.']).enumerate() {
        let misplaced = if i == 0 {
            group.is_empty() || (grouped && group.len() > 3)
        } else {
            group.len() != 3
        };
        if misplaced {
            return Err("misplaced thousands separator".into());
        }
        push_digits(&mut mantissa, group)?;
    }
    push_digits(&mut mantissa, frac_part)?;
    let scale = u32::try_from(frac_part.len()).map_err(|_| "too many decimals".to_string())?;
    if scale > 28 {
        return Err("too many decimals".into());
    }
    let value = Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|e| e.to_string())?;
    Price::new(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str, style: Style) -> String {
        read_price(raw, style)
            .map(|p| p.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn brazilian_and_dot_decimals() {
        assert_eq!(read("1,04", Style::Brazilian), "1.04");
        assert_eq!(read("1.250,50", Style::Brazilian), "1250.5");
        assert_eq!(read("25.50", Style::DotDecimal), "25.5");
        assert_eq!(read("0.255", Style::Unknown), "0.255");
        assert_eq!(read("125.300", Style::Unknown), "125300");
        assert_eq!(read("1.250", Style::DotDecimal), "1.25");
        assert_eq!(read("1,250.50", Style::DotDecimal), "1250.5");
        assert_eq!(read("1.250.000", Style::Unknown), "1250000");
        assert_eq!(read("38", Style::Unknown), "38");
    }

    #[test]
    fn unreadable_numbers() {
        assert!(read_price("1,04,5", Style::Brazilian).is_err());
        assert!(read_price("0,00", Style::Brazilian).is_err());
        assert!(read_price("0,0000001", Style::Brazilian).is_err());
        assert!(read_price("12.34.5", Style::Unknown).is_err());
        assert!(read_price("99999999999999999999999999", Style::Unknown).is_err());
    }

    #[test]
    fn style_evidence() {
        assert_eq!(Style::of("1,04"), Style::Brazilian);
        assert_eq!(Style::of("25.50"), Style::DotDecimal);
        assert_eq!(Style::of("0.255"), Style::DotDecimal);
        assert_eq!(Style::of("125.300"), Style::Unknown);
        assert_eq!(Style::Unknown.merge(Style::Brazilian), Style::Brazilian);
    }
}
