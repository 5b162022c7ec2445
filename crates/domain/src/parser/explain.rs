//! `parse --explain`: which rule of the lexicon read each field, so an operator can answer
//! "why did it read that?" without reading the parser.

use std::fmt;

use crate::model::ParseOutcome;

/// One field and the rule that read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The field (`asset`, `entry`, `target 2`, `stop`, `event` …).
    pub field: String,
    /// What was read, as written.
    pub value: String,
    /// The rule: the lexicon family and the word (`entry label "Compra"`).
    pub rule: String,
}

/// A parse outcome with the rules that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// What the parser made of the message (the same as [`crate::parse`]).
    pub outcome: ParseOutcome,
    /// The fields in the order they were read.
    pub steps: Vec<Step>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .steps
            .iter()
            .map(|s| s.field.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let value_width = self
            .steps
            .iter()
            .map(|s| s.value.chars().count())
            .max()
            .unwrap_or(0);
        for s in &self.steps {
            writeln!(
                f,
                "{:<width$}  {:<value_width$}  ← {}",
                s.field, s.value, s.rule
            )?;
        }
        let reason = self
            .outcome
            .reason()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        write!(
            f,
            "{:<width$}  {}{}",
            "outcome",
            self.outcome.name(),
            reason
        )
    }
}
