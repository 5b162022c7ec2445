use std::str::FromStr;

use chrono::NaiveDate;
use domain::model::{Direction, EntryRange, Price, SignalKind, Ticker, TradeCall};
use rust_decimal::Decimal;

use super::CallColumns;

fn price(s: &str) -> Price {
    Price::new(Decimal::from_str(s).unwrap()).unwrap()
}

fn call() -> TradeCall {
    TradeCall::restore(
        Ticker::parse("PETR4").unwrap(),
        Some(SignalKind::from_str("swing_trade").unwrap()),
        Direction::Short,
        Some(EntryRange::new(price("31.50"), price("31.000001"))),
        vec![price("30.10"), price("29")],
        Some(price("28.5")),
        Some(price("32.25")),
        NaiveDate::from_ymd_opt(2025, 10, 24),
        vec!["percent\0 target".to_owned()],
    )
}

#[test]
fn a_call_survives_its_columns() {
    let columns = CallColumns::from_call(&call());
    assert_eq!(columns.direction, "short");
    assert_eq!(
        columns.warnings,
        serde_json::json!(["percent\u{FFFD} target"])
    );
    let mut expected = call();
    expected.warnings = vec!["percent\u{FFFD} target".to_owned()];
    assert_eq!(columns.into_call(&"test row").unwrap(), expected);
}

#[test]
fn a_broken_row_names_itself() {
    let mut columns = CallColumns::from_call(&call());
    columns.direction = "sideways".to_owned();
    let err = columns.into_call(&"signal 7").unwrap_err().to_string();
    assert!(err.contains("signal 7: direction 'sideways'"), "{err}");
}
