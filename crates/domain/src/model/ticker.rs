//! B3 tickers: stocks, units, fractional shares, BDRs, options and futures.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A B3 ticker in upper case: `PETR4`, `TAEE11`, `PETR4F`, `AAPL34`, options `BOVAW32` /
/// `KLBNK177`, futures `WINZ25` / `WDOF26` and continuous futures `WINFUT`.
///
/// Words that merely look like tickers (`ALVO1`, `COMPRA`, `OPERAÇÃO`) are never accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ticker(String);

/// Letter prefixes of message labels that would otherwise look like a ticker (`ALVO1`, `META2`).
const LABEL_PREFIXES: &[&str] = &[
    "ALVO", "META", "STOP", "TAKE", "GAIN", "LOSS", "DATA", "HORA",
];

impl Ticker {
    /// Validates and upper-cases `raw`; `None` when it is not ticker-shaped.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::is_ticker_shaped(raw).then(|| Self(raw.to_ascii_uppercase()))
    }

    /// True when `raw` (any case) has the shape of a B3 ticker; allocation-free.
    ///
    /// A root is four letters or digits starting with a letter (`PETR`, `B3SA`, `M1TA`); it
    /// also ends with a letter and holds at least two, which keeps `TOP10` or `R4500` out. After
    /// the root: 1–2 digits (stocks, units, BDRs, 2-digit futures such as `WINZ25`) with an
    /// optional fractional `F`, or a series letter and 1–3 strike digits (options `BOVAW32`,
    /// `B3SAK123`); continuous futures are three letters and `FUT` (`WINFUT`, `WDOFUT1`).
    pub fn is_ticker_shaped(raw: &str) -> bool {
        let bytes = raw.as_bytes();
        if !(5..=8).contains(&bytes.len()) || !bytes.is_ascii() {
            return false;
        }
        let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if LABEL_PREFIXES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&raw[..letters]))
        {
            return false;
        }
        if letters == 6 && raw[3..6].eq_ignore_ascii_case("FUT") {
            // continuous futures: WINFUT, WDOFUT1
            return matches!(&bytes[6..], [] | [b'0'..=b'9']);
        }
        let (root, rest) = bytes.split_at(4);
        let root_letters = root.iter().filter(|b| b.is_ascii_alphabetic()).count();
        let root_ok = root[0].is_ascii_alphabetic()
            && root[3].is_ascii_alphabetic()
            && root.iter().all(u8::is_ascii_alphanumeric)
            && root_letters >= 2;
        if !root_ok {
            return false;
        }
        let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        match rest {
            // stocks, units, BDRs, 2-digit futures; fractional shares end in F
            d if (1..=2).contains(&d.len()) && all_digits(d) => true,
            [d @ .., f] if (1..=2).contains(&d.len()) && all_digits(d) => {
                f.eq_ignore_ascii_case(&b'F')
            }
            // options: a series letter, the strike code
            [series, strike @ ..] => {
                series.is_ascii_alphabetic()
                    && (1..=3).contains(&strike.len())
                    && all_digits(strike)
            }
            [] => false,
        }
    }

    /// The ticker text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ticker {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ticker::parse(&value).ok_or_else(|| format!("'{value}' is not a B3 ticker"))
    }
}

impl From<Ticker> for String {
    fn from(value: Ticker) -> Self {
        value.0
    }
}

impl fmt::Display for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_b3_shape() {
        for t in [
            "PETR4", "TAEE11", "PETR4F", "AAPL34", "BOVAW32", "KLBNK177", "WINZ25", "WDOF26",
            "WINFUT", "WINFUT1", "petr4", "B3SA3", "b3sa3", "B3SA3F", "B3SAK123", "B3SAW12",
            "M1TA34", "G2DI33", "A1MD34",
        ] {
            assert!(Ticker::parse(t).is_some(), "{t}");
        }
        assert_eq!(Ticker::parse("petr4").unwrap().as_str(), "PETR4");
    }

    #[test]
    fn rejects_words_and_labels() {
        for t in [
            "COMPRA",
            "OPERAÇÃO",
            "PESSOAL",
            "INVALID",
            "ALVO1",
            "TP1",
            "12345",
            "PETR",
            "PETR123",
            "BOVAW1234",
            "WINXXX",
            "PETR4FF",
            "TOP10",
            "TOP100",
            "R4500",
            "X2000",
            "1B3SA3",
            "B3SA",
            "B3SA123",
            "B3SAK1234",
            "B3S@3",
            "ALVO12",
        ] {
            assert!(Ticker::parse(t).is_none(), "{t}");
        }
    }
}
