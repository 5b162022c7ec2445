//! The team's corpus (`fixtures/corpus/*.json`, one file per family): every case passes, and
//! variants of every case — spacing, case, accents, emojis, separators — parse the same.

use std::sync::OnceLock;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::Value;

use super::tests::matches;
use super::{ParseReport, parse};

/// One corpus case.
struct Case {
    id: String,
    text: String,
    expect: Value,
}

fn corpus() -> &'static [(String, Vec<Case>)] {
    static CORPUS: OnceLock<Vec<(String, Vec<Case>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/corpus");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("fixtures/corpus")
            .map(|e| e.expect("corpus entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let doc: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).expect("read"))
                        .expect("corpus JSON");
                let cases = doc["cases"]
                    .as_array()
                    .expect("cases")
                    .iter()
                    .map(|c| Case {
                        id: c["id"].as_str().expect("id").to_owned(),
                        text: c["text"].as_str().expect("text").to_owned(),
                        expect: c["expect"].clone(),
                    })
                    .collect();
                (doc["family"].as_str().expect("family").to_owned(), cases)
            })
            .collect()
    })
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 10, 20).expect("date")
}

fn report(text: &str) -> Value {
    serde_json::to_value(ParseReport::from(&parse(text, date()))).expect("report")
}

#[test]
fn every_corpus_case_passes_by_family() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (family, cases) in corpus() {
        let mut passed = 0;
        for case in cases {
            let actual = report(&case.text);
            let mut expect = case.expect.clone();
            let contains = expect
                .as_object_mut()
                .and_then(|o| o.remove("reason_contains"));
            let mut errors = Vec::new();
            matches(&actual, &expect, "", &mut errors);
            if let Some(Value::String(part)) = contains
                && !actual["reason"].as_str().is_some_and(|r| r.contains(&part))
            {
                errors.push(format!("reason {} lacks '{part}'", actual["reason"]));
            }
            if errors.is_empty() {
                passed += 1;
            } else {
                failures.push(format!("{} {:?}: {errors:?}", case.id, case.text));
            }
        }
        println!("{family:<22} {passed:>3}/{:<3}", cases.len());
        total += cases.len();
    }
    println!("{:<22} {total:>3}", "total");
    assert!(total >= 300, "the corpus holds {total} cases");
    assert!(
        failures.is_empty(),
        "{}\n{} failed",
        failures.join("\n"),
        failures.len()
    );
}

/// Folds the accents of Portuguese letters away (`até` → `ate`).
fn strip_accents(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' => 'a',
            'Á' | 'À' | 'Â' | 'Ã' => 'A',
            'é' | 'ê' => 'e',
            'É' | 'Ê' => 'E',
            'í' => 'i',
            'Í' => 'I',
            'ó' | 'ô' | 'õ' => 'o',
            'Ó' | 'Ô' | 'Õ' => 'O',
            'ú' => 'u',
            'Ú' => 'U',
            'ç' => 'c',
            'Ç' => 'C',
            c => c,
        })
        .collect()
}

/// A report with its reason (which quotes the text) in one case and without accents.
fn normal(mut report: Value) -> Value {
    if let Some(reason) = report["reason"].as_str() {
        report["reason"] = Value::String(strip_accents(&reason.to_lowercase()));
    }
    report
}

const EMOJIS: &[&str] = &["🟢", "🎯", "✅", "🚀", "📈", "🔥", "⚠️", "💰"];
const LINE_BREAKS: &[&str] = &["\n", "\r\n", "\n\n", " \n ", " | "];
const COLONS: &[&str] = &[": ", " : ", " - ", ":", " = "];

/// A variant of `text` a channel could have written instead.
fn variant(
    text: &str,
    spaces: usize,
    case: u8,
    accents: bool,
    emoji: Option<usize>,
    br: usize,
    colon: usize,
) -> String {
    let mut out = text.replace(": ", COLONS[colon % COLONS.len()]);
    out = out.replace(' ', &" ".repeat(spaces));
    out = match case {
        1 => out.to_uppercase(),
        2 => out.to_lowercase(),
        _ => out,
    };
    if accents {
        out = strip_accents(&out);
    }
    if let Some(e) = emoji {
        let e = EMOJIS[e % EMOJIS.len()];
        out = out
            .split('\n')
            .map(|line| format!("{e} {line} {e}"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    out.replace('\n', LINE_BREAKS[br % LINE_BREAKS.len()])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn variants_of_every_case_parse_the_same(
        pick in any::<prop::sample::Index>(),
        spaces in 1usize..4, letters in 0u8..3, accents in any::<bool>(),
        emoji in proptest::option::of(0usize..8), br in 0usize..5, colon in 0usize..5,
    ) {
        let cases: Vec<&Case> = corpus().iter().flat_map(|(_, c)| c).collect();
        let case = pick.get(&cases);
        let text = variant(&case.text, spaces, letters, accents, emoji, br, colon);
        prop_assert_eq!(normal(report(&text)), normal(report(&case.text)), "{} as {:?}", case.id, text);
    }
}
