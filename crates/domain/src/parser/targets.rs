//! Targets and stops: labels with their indexes (numbers, ordinal signs, ordinal and number
//! words), lists of targets, and the stop label read as a price or, bare, as the stop hit.

use super::lexer::{Tok, Word};
use super::lexicon::{
    LIST_SEPARATORS, ORDINAL_SIGNS, Reading, Term, is_final_word, is_stop_trigger, read,
    trim_digits,
};
use super::scan::{RawPrice, Scan, is_label, rule};

impl<'a> Scan<'_, 'a> {
    /// "primeiro alvo", "terceira meta".
    pub(super) fn read_ordinal(&mut self, index: u8, reading: Reading, w: Word<'a>) -> bool {
        let Some(label) = self.word(1) else {
            return false;
        };
        if read(trim_digits(label.key())).term != Term::TargetLabel {
            return false;
        }
        self.i += 2;
        self.note(
            || "target index".into(),
            || index.to_string(),
            || format!("{} before target label \"{}\"", rule(reading, w), label.raw),
        );
        self.read_target(Some(index), false, label);
        true
    }

    /// An ordinal sign and a target label at `ahead` ("**º alvo**").
    pub(super) fn ordinal_at(&self, ahead: usize) -> bool {
        let sign = self.word(ahead).is_some_and(|w| {
            ORDINAL_SIGNS
                .iter()
                .any(|s| s.as_bytes() == w.key() || *s == w.raw)
        });
        sign && self
            .word(ahead + 1)
            .is_some_and(|l| read(trim_digits(l.key())).term == Term::TargetLabel)
    }

    pub(super) fn read_target_label(&mut self, w: Word<'a>) -> bool {
        let letters = trim_digits(w.key());
        let digits = w.key().len() - letters.len();
        let mut index = (digits > 0)
            .then(|| w.raw[w.raw.len() - digits..].parse::<u8>().ok())
            .flatten();
        self.i += 1;
        if letters == b"take" {
            if self.word(0).is_none_or(|p| p.key() != b"profit") {
                return true;
            }
            self.i += 1;
        }
        if index.is_none() {
            index = self.read_target_index(w);
        }
        let is_final = self.word(0).is_some_and(|f| is_final_word(f.key()));
        if is_final {
            self.i += 1;
        }
        self.read_target(index, is_final, w);
        true
    }

    /// "Alvo 2:", "Alvo dois", "meta terceira".
    fn read_target_index(&mut self, label: Word<'a>) -> Option<u8> {
        match (self.peek(0), self.peek(1)) {
            (Some(Tok::Num(n)), next)
                if n.len() <= 2
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && match next {
                        Some(Tok::Num(_)) => true,
                        // "Alvo 1: 32", but not "alvo 40 — stop"
                        Some(Tok::Punct(':' | '-' | '–' | '—' | '=' | ')' | '.')) => {
                            matches!(self.peek(2), Some(Tok::Num(_)))
                        }
                        // "Alvo 2 atingido", but not "alvo 32 stop 29" nor "alvo 54 e stop"
                        Some(Tok::Word(w)) => w.key() != b"e" && !is_label(read(w.key()).term),
                        _ => false,
                    } =>
            {
                self.i += 1;
                n.parse().ok()
            }
            (Some(Tok::Word(n)), _) => {
                let reading = read(n.key());
                let (Term::Ordinal(index) | Term::Cardinal(index)) = reading.term else {
                    return None;
                };
                self.i += 1;
                self.note(
                    || "target index".into(),
                    || index.to_string(),
                    || format!("{} after target label \"{}\"", rule(reading, n), label.raw),
                );
                Some(index)
            }
            _ => None,
        }
    }

    pub(super) fn read_target(&mut self, index: Option<u8>, is_final: bool, label: Word<'a>) {
        self.update_context = true;
        let Some((value, percent)) = self.read_value(false) else {
            self.hit_target_index = index.or(self.hit_target_index);
            if index.is_some() {
                self.bare_target = true;
                self.note(
                    || "event".into(),
                    || format!("target_hit {}", index.unwrap_or(0)),
                    || format!("bare target label \"{}\" with an index", label.raw),
                );
            }
            return;
        };
        if percent {
            self.warnings.push(format!(
                "target {}{}% is a percentage, not a price",
                index.map(|i| format!("{i} ")).unwrap_or_default(),
                value.raw
            ));
            return;
        }
        let field = || match (is_final, index) {
            (true, _) => "target final".to_owned(),
            (false, Some(i)) => format!("target {i}"),
            (false, None) => "target".to_owned(),
        };
        if is_final {
            if self.target_final.is_none() {
                self.target_final = Some(value);
                self.note(
                    field,
                    || value.raw.into(),
                    || format!("target label \"{}\" + final word", label.raw),
                );
            }
        } else if index.is_some() && self.targets.iter().any(|(i, _)| *i == index) {
            self.warnings.push(format!(
                "target {} given twice; the first is kept",
                index.unwrap_or(0)
            ));
        } else {
            self.targets.push((index, value));
            self.note(
                field,
                || value.raw.into(),
                || format!("target label \"{}\"", label.raw),
            );
            self.read_target_list(label);
        }
    }

    /// "Alvos: 1,15 / 2,15 / 3,50", "alvos em 32, 33 e 35".
    fn read_target_list(&mut self, label: Word<'a>) {
        loop {
            let joined = match self.peek(0) {
                Some(Tok::Punct(c)) => LIST_SEPARATORS.contains(&c),
                Some(Tok::Word(w)) => w.key() == b"e",
                _ => false,
            };
            if !joined {
                return;
            }
            match self.peek(1) {
                Some(Tok::Num(raw))
                    if !matches!(self.peek(2), Some(Tok::Punct('%'))) && !self.ordinal_at(2) =>
                {
                    self.targets.push((None, RawPrice { raw }));
                    self.note(
                        || "target".into(),
                        || raw.into(),
                        || format!("list after target label \"{}\"", label.raw),
                    );
                    self.i += 2;
                }
                _ => return,
            }
        }
    }

    pub(super) fn read_stop(&mut self, label: Word<'a>) -> bool {
        self.update_context = true;
        self.i += 1;
        let mut gain = false;
        if let Some(next) = self.word(0) {
            if matches!(next.key(), b"loss" | b"movel") {
                self.i += 1;
            } else if next.key() == b"gain" {
                gain = true;
                self.i += 1;
            }
        }
        if let Some(next) = self.word(0)
            && is_stop_trigger(next.key())
        {
            self.stop_hit = true;
            self.i += 1;
            self.note(
                || "event".into(),
                || "stop_hit".into(),
                || format!("stop label \"{}\" + \"{}\"", label.raw, next.raw),
            );
            return true;
        }
        let at_line_end = matches!(self.peek(0), None | Some(Tok::Newline | Tok::Punct('|')));
        match self.read_value(false) {
            Some((value, false)) => {
                if self.stop.is_none() {
                    self.stop = Some(value);
                    self.stop_is_gain = gain;
                    self.note(
                        || "stop".into(),
                        || value.raw.into(),
                        || format!("stop label \"{}\"", label.raw),
                    );
                }
            }
            // "CYREW296 stop | -25%": the loss of a stop that was hit.
            Some(_) if at_line_end => {
                self.bare_stop = true;
                self.stop_hit = true;
            }
            Some((value, true)) => self
                .warnings
                .push(format!("stop {}% is a percentage, not a price", value.raw)),
            None => {
                // "CYREW296 stop" on its own line; "STOP PETR4": the stop was hit.
                self.bare_stop = true;
                self.stop_hit |= at_line_end;
                self.note(
                    || "event".into(),
                    || "stop_hit".into(),
                    || format!("bare stop label \"{}\"", label.raw),
                );
            }
        }
        true
    }
}
