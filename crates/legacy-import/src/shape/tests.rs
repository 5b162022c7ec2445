//! Column mapping by name, on catalogs written by hand.

use super::classify::classify;
use super::*;

fn col(name: &str, typname: &str) -> Col {
    Col {
        name: name.into(),
        sql_type: typname.into(),
        class: TypeClass::of(typname),
    }
}

fn signals_cols(ts: &str) -> Vec<Col> {
    let mut v = vec![
        col("id", "uuid"),
        col("ts", ts),
        col("channel", "text"),
        col("signal_type", "text"),
        col("asset", "text"),
    ];
    v.extend(
        crate::mapping::PRICE_COLUMNS
            .iter()
            .map(|p| col(p, "numeric")),
    );
    v.push(col("raw_message", "text"));
    v.push(col("extra", "text"));
    v
}

#[test]
fn columns_map_by_name_and_extras_are_reported() {
    let mut cols = signals_cols("int8");
    cols.reverse();
    let shape = classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]);
    assert!(shape.is_go(), "{:?}", shape.findings);
    let s = shape.signals.as_ref().unwrap();
    assert_eq!(s.ts.kind, TimeKind::EpochMillis);
    assert_eq!(s.prices[5].as_ref().unwrap().name, "stop");
    let extra = shape.columns.iter().find(|c| c.column == "extra").unwrap();
    assert!(extra.target.starts_with("not mapped"));
    assert!(
        shape
            .findings
            .iter()
            .any(|(s, f)| *s == Severity::Warn && f.contains("source"))
    );
}

#[test]
fn unconvertible_types_and_missing_keys_are_no_go() {
    let mut cols = signals_cols("timestamptz");
    cols[1] = col("ts", "date");
    let shape = classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]);
    assert!(!shape.is_go());
    let mut cols = signals_cols("timestamptz");
    cols.remove(0);
    assert!(!classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]).is_go());
    assert!(!classify("tp_capital", vec![]).is_go());
}

#[test]
fn token_columns_are_never_read() {
    let shape = classify(
        "tp_capital",
        vec![
            (SIGNALS_TABLE.into(), signals_cols("timestamptz")),
            (
                CHANNELS_TABLE.into(),
                vec![
                    col("channel_id", "int8"),
                    col("label", "text"),
                    col("bot_token", "text"),
                ],
            ),
        ],
    );
    let token = shape
        .columns
        .iter()
        .find(|c| c.column == "bot_token")
        .unwrap();
    assert!(token.target.starts_with("never read"));
    assert!(shape.channels.is_some());
}

#[test]
fn identifiers_and_literals_are_quoted() {
    assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(literal("o'k"), "'o''k'");
}
