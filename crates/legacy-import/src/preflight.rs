//! The pre-flight checks and their go/no-go summary, printed before anything is written.

use serde::Serialize;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Go,
    /// Fine, with a caveat the operator should read.
    Warn,
    /// Blocks the import.
    NoGo,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// Every check of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    /// In the order they ran.
    pub checks: Vec<Check>,
}

impl Preflight {
    /// Adds a check.
    pub fn add(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }

    /// No check blocks.
    pub fn go(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::NoGo)
    }

    /// The blocking checks, one line.
    pub fn blocking(&self) -> String {
        self.checks
            .iter()
            .filter(|c| c.status == Status::NoGo)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The summary table and the verdict.
    pub fn render(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::from("Pre-flight\n");
        for c in &self.checks {
            let mark = match c.status {
                Status::Go => "GO   ",
                Status::Warn => "WARN ",
                Status::NoGo => "NO-GO",
            };
            out.push_str(&format!("  [{mark}] {:<width$}  {}\n", c.name, c.detail));
        }
        out.push_str(if self.go() {
            "Verdict: GO\n"
        } else {
            "Verdict: NO-GO (nothing was written)\n"
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_blocking_check_is_no_go() {
        let mut p = Preflight::default();
        p.add("a", Status::Go, "fine");
        p.add("b", Status::Warn, "hm");
        assert!(p.go());
        assert!(p.render().ends_with("Verdict: GO\n"));
        p.add("c", Status::NoGo, "broken");
        assert!(!p.go());
        assert_eq!(p.blocking(), "c: broken");
        assert!(p.render().contains("[NO-GO] c"));
    }
}
