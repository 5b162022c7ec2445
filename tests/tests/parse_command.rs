//! The `parse` command as operators and checks use it: every shared fixture case through the real
//! binary, exit codes, and hostile input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn parse(text: &[u8], args: &[&str]) -> Output {
    let mut child = Command::new(e2e::binary("tp-capital-ingest"))
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tp-capital-ingest");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// Only the keys `expected` lists are compared; numbers as numbers.
fn assert_matches(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (_, Value::Object(fields)) => {
            for (k, v) in fields {
                assert_matches(
                    actual.get(k).unwrap_or(&Value::Null),
                    v,
                    &format!("{path}.{k}"),
                );
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: {actual} vs {expected}");
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_matches(a, e, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            assert!(
                (a.as_f64().unwrap_or(f64::NAN) - e.as_f64().unwrap_or(f64::NAN)).abs() < 1e-9,
                "{path}: {a} vs {e}"
            )
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

#[test]
fn every_fixture_case_through_the_binary() {
    let corpus: Value = serde_json::from_slice(
        &std::fs::read(e2e::fixtures().join("parser-cases.json")).expect("fixture"),
    )
    .expect("JSON");
    for case in corpus["cases"].as_array().expect("cases") {
        let date = case["date"].as_str().expect("date");
        let out = json(&parse(
            case["text"].as_str().expect("text").as_bytes(),
            &["--date", date],
        ));
        for key in ["outcome", "reason", "signal", "update"] {
            assert!(
                out.get(key).is_some(),
                "{}: key {key} missing in {out}",
                case["id"]
            );
        }
        assert_matches(&out, &case["expect"], case["id"].as_str().unwrap_or("?"));
    }
}

#[test]
fn canonical_message_prints_the_spec_document() {
    let out = json(&parse(
        test_support::fixtures::BOVAW32.as_bytes(),
        &["--date", "2025-10-20"],
    ));
    assert_eq!(
        out,
        serde_json::json!({"outcome": "signal", "reason": null, "update": null,
            "signal": {"asset": "BOVAW32", "kind": "swing_trade", "direction": "long", "entry_min": 1.04,
                       "entry_max": 1.06, "targets": [1.15, 2.15], "target_final": 3.5, "stop": 0.7,
                       "valid_until": "2025-10-28"}})
    );
}

#[test]
fn every_outcome_exits_zero_with_a_reason_when_not_taken() {
    let rejected = json(&parse(
        b"Compra: 1,00 a 1,10\nAlvo 1: 1,50\nStop: 0,80",
        &[],
    ));
    assert_eq!(rejected["outcome"], "rejected");
    assert!(
        rejected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("asset"))
    );
    let ignored = json(&parse(b"", &[]));
    assert_eq!(ignored["outcome"], "ignored");
    let binary = json(&parse(&[0xff, 0xfe, 0x00, b'P', 0x80], &[]));
    assert_eq!(binary["outcome"], "ignored");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [&["--date", "2025-13-45"][..], &["--date"], &["--bogus"]] {
        let out = parse(b"", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("usage: tp-capital-ingest parse"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}
