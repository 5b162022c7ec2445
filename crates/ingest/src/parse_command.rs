//! `tp-capital-ingest parse`: operators paste a message and see what the parser makes of it,
//! in the JSON of SPEC §2.5 (`--explain`: and which rule read each field).

use std::io::{Read, Write};

use chrono::NaiveDate;
use domain::parser::ParseReport;

/// Reads one message on stdin and prints its report; with `explain`, first the rule that read
/// each field. Bytes that are not UTF-8 are replaced, never refused: the parser judges the text.
pub fn run(date: Option<NaiveDate>, explain: bool) -> std::io::Result<()> {
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let explanation = domain::parser::explain(&text, date);
    let mut out = std::io::stdout().lock();
    if explain {
        writeln!(out, "{explanation}\n")?;
    }
    let report = ParseReport::from(&explanation.outcome);
    let json = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
    writeln!(out, "{json}")
}
