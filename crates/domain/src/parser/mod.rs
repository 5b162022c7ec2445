//! The message parser: one pure function from a Telegram text to a [`ParseOutcome`].
//!
//! It reads the layouts channels really use (SPEC §2.4): labelled blocks, one-line and
//! pipe-separated calls, sentences with prepositions instead of labels, Brazilian and dot
//! decimals, ranges, ordinal targets, validity dates, and updates in every inflection of their
//! verbs. What each word means is data in [`lexicon`](self) (one place to extend); the scan binds
//! values to fields; `decide` turns the evidence into an outcome. One pass over borrowed tokens,
//! no regex, allocations only for what it returns.

mod decide;
mod explain;
mod lexer;
mod lexicon;
mod numbers;
mod report;
mod scan;
mod targets;

use chrono::NaiveDate;

use crate::model::{IgnoreReason, ParseOutcome};
pub use explain::{Explanation, Step};
use lexer::{Lexer, Tok};
pub use report::{ParseReport, SignalReport, UpdateReport};
use scan::Scan;

/// The warning on a call whose stop is a "stop gain" (not checked against the entry).
pub const STOP_GAIN_WARNING: &str =
    "stop gain: a profit-protecting stop, not checked against the entry";

/// Version of the parsing rules, recorded with every archived message and signal.
pub const PARSER_VERSION: &str = "2.1.0";

/// Parses one message text; `date` is the message date, used to infer the year of validity dates.
pub fn parse(text: &str, date: NaiveDate) -> ParseOutcome {
    run(text, date, false).outcome
}

/// Parses like [`parse`] and says which rule read each field (`parse --explain`).
pub fn explain(text: &str, date: NaiveDate) -> Explanation {
    run(text, date, true)
}

fn run(text: &str, date: NaiveDate, explain: bool) -> Explanation {
    if text.trim().is_empty() {
        return Explanation {
            outcome: ParseOutcome::Ignored(IgnoreReason::Empty),
            steps: Vec::new(),
        };
    }
    let mut tokens: Vec<Tok<'_>> = Vec::with_capacity(text.len() / 3 + 8);
    tokens.extend(Lexer::new(text));
    let mut scan = Scan::new(&tokens, date, explain);
    scan.run();
    let outcome = scan.decide();
    Explanation {
        outcome,
        steps: scan.trace.take().unwrap_or_default(),
    }
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
