//! The layout rule "HTTP at the edge": in the two binaries' crates, only the HTTP modules name
//! `Problem` (the problem+json error type). Everything else returns its own error, which the
//! HTTP module maps. A static check of the source tree: it needs no stack.

use std::fs;
use std::path::{Path, PathBuf};

/// The HTTP modules of the api, as paths under `crates/api/src` (a trailing `/` is a folder).
const API_HTTP: &[&str] = &[
    // The app, its middleware, its route table and OpenAPI document.
    "lib.rs",
    "routes.rs",
    "openapi.rs",
    "auth.rs",
    "rate_limit/",
    // Query, path and body parsing shared by the resources (400 problems).
    "common/",
    // Each resource's handlers and parameter validation.
    "*/handlers.rs",
    "*/params.rs",
    // An HTTP client of the ingest's internal sync endpoint: the upstream's HTTP answer is what
    // it forwards.
    "sync/client.rs",
];

/// The HTTP modules of the ingest, as paths under `crates/ingest/src`.
const INGEST_HTTP: &[&str] = &[
    // Routes, handlers, the gateway-token guard, and the mapping of `IngestError`.
    "http.rs",
    // The wire format: a field error is a problem naming the field.
    "dto/",
    // The internal `POST /gateway/sync` endpoint and its token guard.
    "gateway/sync.rs",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn allowed(relative: &str, allow: &[&str]) -> bool {
    allow.iter().any(|rule| {
        if let Some(file) = rule.strip_prefix("*/") {
            relative.ends_with(&format!("/{file}"))
        } else if rule.ends_with('/') {
            relative.starts_with(rule)
        } else {
            relative == *rule
        }
    })
}

/// Whether a line of code (comments dropped) names the identifier `Problem`.
fn names_problem(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("Problem").any(|(at, _)| {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let before = code[..at].chars().next_back().is_some_and(ident);
        let after = code[at + "Problem".len()..]
            .chars()
            .next()
            .is_some_and(ident);
        !before && !after
    })
}

/// Files under `crates/<krate>/src` outside `allow` that name `Problem`, with the first line.
fn offenders(krate: &str, allow: &[&str]) -> Vec<String> {
    let src = root().join("crates").join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found the sources of {krate}");
    let mut found = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if allowed(&relative, allow) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source");
        if let Some((n, line)) = text.lines().enumerate().find(|(_, l)| names_problem(l)) {
            found.push(format!(
                "crates/{krate}/src/{relative}:{}: {}",
                n + 1,
                line.trim()
            ));
        }
    }
    found
}

#[test]
fn only_the_api_http_modules_name_problem() {
    let found = offenders("api", API_HTTP);
    assert!(
        found.is_empty(),
        "Problem outside the api's HTTP modules:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_ingest_http_modules_name_problem() {
    let found = offenders("ingest", INGEST_HTTP);
    assert!(
        found.is_empty(),
        "Problem outside the ingest's HTTP modules:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_named_problem_and_not_a_mention() {
    assert!(names_problem("fn f() -> Result<(), Problem> {"));
    assert!(names_problem(
        "use service_kit::problem::{Problem, method_not_allowed};"
    ));
    assert!(!names_problem("// a Problem in a comment"));
    assert!(!names_problem(
        "let p = ProblemDetails::new(); // not the type"
    ));
    assert!(allowed("signals/handlers.rs", API_HTTP));
    assert!(!allowed("stream/fanout.rs", API_HTTP));
    assert!(!allowed("ingestion.rs", INGEST_HTTP));
}
