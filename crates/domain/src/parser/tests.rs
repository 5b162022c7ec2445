//! Parser tests: the shared fixture corpus, the legacy system's messages read as a careful human
//! would, targeted rules, and properties over arbitrary input.

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::model::Direction;

const CASES: &str = include_str!("../../../../fixtures/parser-cases.json");
const LEGACY: &str = include_str!("../../../../fixtures/legacy-samples.json");

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("fixture date")
}

fn report(text: &str, date: &str) -> Value {
    serde_json::to_value(ParseReport::from(&parse(text, day(date)))).expect("report serialises")
}

/// Checks only the keys `expected` lists; numbers compare as numbers.
pub(super) fn matches(actual: &Value, expected: &Value, path: &str, errors: &mut Vec<String>) {
    match (actual, expected) {
        (_, Value::Object(fields)) => {
            for (k, v) in fields {
                matches(
                    actual.get(k).unwrap_or(&Value::Null),
                    v,
                    &format!("{path}.{k}"),
                    errors,
                );
            }
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => {
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                matches(a, e, &format!("{path}[{i}]"), errors);
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (
                a.as_f64().unwrap_or(f64::NAN),
                e.as_f64().unwrap_or(f64::NAN),
            );
            if (a - e).abs() > 1e-9 {
                errors.push(format!("{path}: {a} != {e}"));
            }
        }
        (a, e) if a == e => {}
        (a, e) => errors.push(format!("{path}: {a} != {e}")),
    }
}

#[test]
fn every_shared_fixture_case_passes() {
    let corpus: Value = serde_json::from_str(CASES).expect("fixture JSON");
    let cases = corpus["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 30);
    let mut failures = Vec::new();
    for case in cases {
        let actual = report(
            case["text"].as_str().unwrap_or(""),
            case["date"].as_str().unwrap_or("2025-10-20"),
        );
        let mut errors = Vec::new();
        matches(&actual, &case["expect"], "", &mut errors);
        if !errors.is_empty() {
            failures.push(format!("{}: {errors:?}\n  got {actual}", case["id"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn canonical_message_reads_completely() {
    let r = report(
        "🟢Swing Trade \n \nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\n\nStop: 0,70\n\nA ordem ficará posicionada no Book até dia 28/10",
        "2025-10-20",
    );
    assert_eq!(
        r,
        serde_json::json!({
            "outcome": "signal", "reason": null, "update": null,
            "signal": {"asset": "BOVAW32", "kind": "swing_trade", "direction": "long",
                       "entry_min": 1.04, "entry_max": 1.06, "targets": [1.15, 2.15],
                       "target_final": 3.5, "stop": 0.7, "valid_until": "2025-10-28"}
        })
    );
}

/// What a careful human reads in each legacy message (`fixtures/legacy-samples.json`).
#[test]
fn legacy_messages_read_as_a_human_would() {
    let legacy: Value = serde_json::from_str(LEGACY).expect("legacy JSON");
    let text_of = |section: &str, id: &str| -> String {
        legacy[section]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .and_then(|c| c["text"].as_str())
            .unwrap_or_else(|| panic!("{section}/{id} missing"))
            .to_owned()
    };
    let expectations: &[(&str, &str, Value)] = &[
        (
            "parser_unit_tests",
            "parseSignal.test#01",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25.5, "entry_max": 26, "targets": [28, 30], "target_final": 35, "stop": 24}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#02",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "VALE3", "entry_min": 50, "entry_max": 50}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#03",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "VALE3", "entry_min": 50, "entry_max": 52}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#04",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "ITUB4", "entry_min": 25.5, "entry_max": 26, "stop": 24}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#05",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "WINFUT1", "entry_min": 1250.5, "entry_max": 1255}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#06",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "ABEV3", "entry_min": 12.5, "entry_max": 13}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#07",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "KLBNK177", "entry_min": 0.25, "entry_max": 0.27}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#08",
            serde_json::json!({"outcome": "signal", "signal": {"targets": [22, 24], "target_final": 28}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#09",
            serde_json::json!({"outcome": "signal", "signal": {"targets": [], "target_final": 30}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#14",
            serde_json::json!({"outcome": "ignored"}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#16",
            serde_json::json!({"outcome": "ignored"}),
        ),
        // The legacy parser took COMPRA as the asset; there is no asset here.
        (
            "parser_unit_tests",
            "parseSignal.test#17",
            serde_json::json!({"outcome": "rejected"}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#18",
            serde_json::json!({"outcome": "signal", "signal": {"entry_min": 25, "entry_max": 26}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#19",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25, "stop": 20}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#20",
            serde_json::json!({"outcome": "signal", "signal": {"entry_min": 25, "entry_max": 26, "target_final": 30, "stop": 20}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#24",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "BEEFW655", "kind": "swing_trade", "entry_min": 0.25, "entry_max": 0.27, "targets": [0.35, 0.56], "target_final": 2, "stop": 0.16}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#25",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25, "entry_max": 26, "stop": 20}}),
        ),
        (
            "parser_unit_tests",
            "parseSignal.test#26",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25}}),
        ),
        // Asset and stop but no entry: looks like a call, cannot be trusted.
        (
            "other_test_fixtures",
            "gatewayPollingWorker.test#incomplete",
            serde_json::json!({"outcome": "rejected"}),
        ),
        (
            "other_test_fixtures",
            "gatewayPollingWorker.test#notasignal",
            serde_json::json!({"outcome": "ignored"}),
        ),
        (
            "other_test_fixtures",
            "gatewayPollingWorker.test#caption",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25}}),
        ),
        (
            "other_test_fixtures",
            "dashboard.SignalsTable.test#PETR4",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 28.5, "entry_max": 29, "targets": [30], "target_final": 30, "stop": 27.5}}),
        ),
        (
            "other_test_fixtures",
            "gateway-integration#emoji",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "direction": "long", "entry_min": 28.5, "entry_max": 28.8, "targets": [29.2, 29.8], "target_final": 30.5, "stop": 27.9}}),
        ),
        (
            "doc_message_examples",
            "doc#short-swing",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "BOVAW32", "kind": "swing_trade", "targets": [1.15], "target_final": 1.15, "stop": 0.7}}),
        ),
        (
            "doc_message_examples",
            "doc#daytrade-papel",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "kind": "day_trade", "entry_min": 38.5, "targets": [39], "stop": 38}}),
        ),
        (
            "doc_message_examples",
            "doc#greeting",
            serde_json::json!({"outcome": "ignored"}),
        ),
        (
            "doc_message_examples",
            "doc#cancel",
            serde_json::json!({"outcome": "update", "update": {"asset": null, "event": "cancelled"}}),
        ),
        (
            "doc_message_examples",
            "doc#keyword-variants",
            serde_json::json!({"outcome": "signal", "signal": {"asset": "PETR4", "entry_min": 25.5, "entry_max": 25.5, "targets": [28], "stop": 23}}),
        ),
        (
            "doc_message_examples",
            "doc#analysis",
            serde_json::json!({"outcome": "ignored"}),
        ),
        (
            "doc_message_examples",
            "doc#target-hit",
            serde_json::json!({"outcome": "update", "update": {"asset": "BOVAW22", "event": "target_hit", "target_index": 1}}),
        ),
        (
            "doc_message_examples",
            "doc#stop-hit",
            serde_json::json!({"outcome": "update", "update": {"asset": "CYREW296", "event": "stop_hit"}}),
        ),
    ];
    let mut failures = Vec::new();
    for (section, id, expected) in expectations {
        let actual = report(&text_of(section, id), "2025-10-07");
        let mut errors = Vec::new();
        matches(&actual, expected, "", &mut errors);
        if !errors.is_empty() {
            failures.push(format!("{id}: {errors:?}\n  got {actual}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_sample_signal_raw_message_is_read() {
    let legacy: Value = serde_json::from_str(LEGACY).expect("legacy JSON");
    let sample = &legacy["sample_signals_json"]["content"][0];
    let r = report(sample["rawMessage"].as_str().expect("raw"), "2025-10-07");
    for (ours, theirs) in [
        ("entry_min", "buyMin"),
        ("entry_max", "buyMax"),
        ("target_final", "targetFinal"),
        ("stop", "stop"),
    ] {
        assert_eq!(
            r["signal"][ours].as_f64(),
            sample[theirs].as_f64(),
            "{ours}"
        );
    }
}

#[test]
fn validity_rolls_into_next_year() {
    let r = report(
        "Ativo: PETR4\nCompra: 30,00\nAlvo: 32,00\nStop: 29,00\nVálido até 05/01",
        "2025-12-20",
    );
    assert_eq!(r["signal"]["valid_until"], "2026-01-05");
    let r = report(
        "Ativo: PETR4\nCompra: 30,00\nStop: 29,00\naté 10/02/2026",
        "2025-12-20",
    );
    assert_eq!(r["signal"]["valid_until"], "2026-02-10");
}

#[test]
fn kinds_and_labels() {
    assert_eq!(
        report("⚡ Scalp\nAtivo: BBDC4\nCompra 14,20", "2025-10-20")["signal"]["kind"],
        "scalping"
    );
    assert_eq!(
        report("Position Trade\nAtivo: BBDC4\nCompra 14,20", "2025-10-20")["signal"]["kind"],
        "position"
    );
    let r = report(
        "Ticker: WEGE3\nPreço de entrada: 40,00\nTake Profit: 44,00\nStop Loss: 38,00",
        "2025-10-20",
    );
    assert_eq!(r["signal"]["entry_min"], 40.0);
    assert_eq!(r["signal"]["targets"], serde_json::json!([44.0]));
    let r = report(
        "Ativo: PETR4\nCompra: 30,00\n1º alvo: 31,00\n2º alvo: 32,00\nStop: 29,00",
        "2025-10-20",
    );
    assert_eq!(r["signal"]["targets"], serde_json::json!([31.0, 32.0]));
}

#[test]
fn roots_holding_a_digit_are_tickers() {
    let r = report(
        "Ativo: B3SA3\nCompra: 12,50\nAlvo: 13,50\nStop: 11,90",
        "2025-10-20",
    );
    assert_eq!(r["outcome"], "signal");
    assert_eq!(r["signal"]["asset"], "B3SA3");
    let r = report("B3SAK123 compra 0,45 alvo 0,80 stop 0,30", "2025-10-20");
    assert_eq!(r["signal"]["asset"], "B3SAK123");
}

#[test]
fn short_signal_by_sell_label() {
    let r = report(
        "Ativo: PETR4\nSell: 30,00\nTP1: 28,00\nStop: 31,00",
        "2025-10-20",
    );
    assert_eq!(r["signal"]["direction"], "short");
}

#[test]
fn rejections_say_why() {
    let reason = |t: &str| {
        report(t, "2025-10-20")["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert!(reason("Ativo: PETR4\nCompra: 1,04,5\nStop: 0,90").contains("unreadable entry price"));
    assert!(reason("Ativo: XPTO\nCompra: 1,00").contains("not a B3 ticker"));
    assert!(reason("Compra: 1,00\nStop: 0,90").contains("no asset"));
    assert!(
        reason("Ativo: PETR4\nCompra: 1,00\nStop: 1,10")
            .contains("stop 1.1 is not below the entry 1")
    );
}

#[test]
fn updates_without_asset_or_commentary() {
    assert_eq!(
        report("Alvo 2 atingido! 🚀", "2025-10-20")["update"]["target_index"],
        2
    );
    assert_eq!(
        report("O pregão foi encerrado em alta", "2025-10-20")["outcome"],
        "ignored"
    );
    assert_eq!(
        report("PETR4 stopado", "2025-10-20")["update"]["event"],
        "stop_hit"
    );
    assert_eq!(
        report("✅ BOVAW32 - 2º alvo atingido +85%", "2025-10-20")["update"]["target_index"],
        2
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_text(text in "\\PC*") {
        let _ = parse(&text, day("2025-10-20"));
    }

    #[test]
    fn signals_satisfy_their_invariants(
        asset in "[A-Z]{4}[A-X][0-9]{2,3}",
        low in 1u32..100_000, spread in 0u32..1000, up in 1u32..5000, down in 1u32..1000,
        comma in any::<bool>(), noise in "[ \\*🟢]{0,3}",
    ) {
        let fmt = |cents: u32| if comma { format!("{},{:02}", cents / 100, cents % 100) } else { format!("{}.{:02}", cents / 100, cents % 100) };
        let stop = low.saturating_sub(down).max(1);
        let text = format!("{noise}Ativo: {asset}\nCompra: {} a {}\nAlvo 1: {}\nStop: {}", fmt(low), fmt(low + spread), fmt(low + spread + up), fmt(stop));
        match parse(&text, day("2025-10-20")) {
            ParseOutcome::Signal(call) => {
                let entry = call.entry.expect("entry");
                prop_assert!(entry.min() <= entry.max());
                prop_assert_eq!(call.asset.as_str(), asset.as_str());
                prop_assert!(call.targets.iter().all(|t| *t > entry.max()));
                prop_assert!(call.stop.is_none_or(|s| s < entry.min()));
                prop_assert_eq!(call.target_final, call.targets.last().copied());
            }
            ParseOutcome::Rejected(_) => prop_assert!(stop >= low || low + spread >= 100_000_000),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn produced_signals_always_hold_invariants(text in "(Ativo: [A-Z]{4}[0-9] |Compra |Venda |Alvo [0-9]: |Stop |[0-9]{1,4}[,.][0-9]{1,3} |a |- |\n|%){0,20}") {
        if let ParseOutcome::Signal(call) = parse(&text, day("2025-10-20")) {
            let first_target = call.targets.first().copied().or(call.target_final);
            if let Some(entry) = call.entry {
                prop_assert!(entry.min() <= entry.max());
                if let Some(t) = first_target {
                    let ok = match call.direction { Direction::Long => t > entry.max(), Direction::Short => t < entry.min() };
                    prop_assert!(ok);
                }
                if let Some(s) = call.stop {
                    let ok = match call.direction { Direction::Long => s < entry.min(), Direction::Short => s > entry.max() };
                    prop_assert!(ok);
                }
            } else {
                prop_assert!(first_target.is_some() && call.stop.is_some());
            }
        }
    }
}
