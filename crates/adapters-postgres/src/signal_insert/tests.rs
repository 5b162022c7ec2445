use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{MessageColumns, SignalArrays, SignalInsert, numeric_array_literal};
use crate::call::CallColumns;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn row(targets: &[&str], warnings: serde_json::Value) -> SignalInsert<'static> {
    let date = DateTime::parse_from_rfc3339("2025-10-20T13:05:00.123456789Z")
        .expect("date")
        .with_timezone(&Utc);
    SignalInsert {
        message: MessageColumns {
            channel_id: -100,
            message_id: 7,
            message_date: date,
            edit_date: None,
        },
        call: CallColumns {
            asset: "BOVAW32".to_owned(),
            kind: None,
            direction: "long".to_owned(),
            entry_min: Some(dec("1.04")),
            entry_max: Some(dec("1.06")),
            targets: targets.iter().map(|t| dec(t)).collect(),
            target_final: None,
            stop: Some(dec("0.70")),
            valid_until: None,
            warnings,
        },
        raw_message: Cow::Borrowed("Ativo: BOVAW32"),
        parser_version: "p",
        source: None,
        created_at: date,
        updated_at: date,
        import_id: None,
        legacy_id: None,
    }
}

#[test]
fn targets_travel_as_exact_numeric_array_literals() {
    assert_eq!(numeric_array_literal(&[]), "{}");
    assert_eq!(
        numeric_array_literal(&[dec("1.15"), dec("1.20"), dec("0.000001")]),
        "{1.15,1.20,0.000001}"
    );
}

#[test]
fn the_arrays_hold_one_entry_per_row_times_to_the_microsecond_and_no_empty_warnings() {
    let rows = [
        row(&["1.15", "1.20"], serde_json::json!([])),
        row(&[], serde_json::json!(["say \"hi\""])),
    ];
    let a = SignalArrays::of(&rows);
    assert_eq!(a.targets, ["{1.15,1.20}", "{}"]);
    assert_eq!(
        a.warnings,
        [None, Some(r#"["say \"hi\""]"#.to_owned())],
        "no warnings travel as NULL (stored as []), others as JSON text"
    );
    assert_eq!(a.message_date[0].timestamp_subsec_nanos(), 123_456_000);
    assert_eq!(a.created_at[1].timestamp_subsec_nanos(), 123_456_000);
    assert_eq!(a.channel_id.len(), 2);
    assert_eq!(a.legacy_id, [None, None]);
}
