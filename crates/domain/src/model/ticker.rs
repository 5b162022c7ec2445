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
    pub fn is_ticker_shaped(raw: &str) -> bool {
        let bytes = raw.as_bytes();
        if !(5..=8).contains(&bytes.len()) || !bytes.is_ascii() {
            return false;
        }
        let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let digits = bytes[letters..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let rest = &bytes[letters + digits..];
        let prefix = &raw[..letters];
        if LABEL_PREFIXES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(prefix))
        {
            return false;
        }
        let fractional = rest.len() == 1 && rest[0].eq_ignore_ascii_case(&b'F');
        match (letters, digits) {
            // stocks, units, BDRs, fractional shares and 2-digit futures (WINZ25)
            (4, 1..=2) => rest.is_empty() || fractional,
            // options: 4 letters, a series letter, the strike code
            (5, 1..=3) => rest.is_empty(),
            // continuous futures: WINFUT, WDOFUT1
            (6, 0..=1) => rest.is_empty() && raw[3..6].eq_ignore_ascii_case("FUT"),
            _ => false,
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
            "WINFUT", "WINFUT1", "petr4",
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
        ] {
            assert!(Ticker::parse(t).is_none(), "{t}");
        }
    }
}
