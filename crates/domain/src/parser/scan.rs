//! One pass over the tokens of a message: each label, verb and ordinal the lexicon knows binds
//! the values that follow it to a field. What the pass found is decided on in `decide.rs`.

use chrono::{Datelike, NaiveDate};

use super::explain::Step;
use super::lexer::{Tok, Word};
use super::lexicon::{
    LABEL_SEPARATORS, RANGE_SEPARATORS, Reading, Term, is_preposition, is_range_word, read,
};
use crate::model::{Direction, SignalKind, Ticker};

/// A price as written.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawPrice<'a> {
    pub(super) raw: &'a str,
}

/// What one pass over the tokens found.
pub(super) struct Scan<'t, 'a> {
    pub(super) toks: &'t [Tok<'a>],
    pub(super) i: usize,
    date: NaiveDate,
    pub(super) asset: Option<&'a str>,
    pub(super) invalid_asset: Option<&'a str>,
    pub(super) first_ticker: Option<&'a str>,
    pub(super) kind: Option<SignalKind>,
    pub(super) entry_direction: Option<Option<Direction>>,
    pub(super) direction_hint: Option<Direction>,
    pub(super) entry: Option<(RawPrice<'a>, Option<RawPrice<'a>>)>,
    pub(super) targets: Vec<(Option<u8>, RawPrice<'a>)>,
    pub(super) target_final: Option<RawPrice<'a>>,
    pub(super) stop: Option<RawPrice<'a>>,
    pub(super) stop_is_gain: bool,
    pub(super) valid_until: Option<NaiveDate>,
    pub(super) warnings: Vec<String>,
    // update evidence
    pub(super) cancelled: bool,
    pub(super) closed: bool,
    pub(super) hit_word: bool,
    pub(super) stop_hit: bool,
    pub(super) bare_stop: bool,
    pub(super) bare_target: bool,
    pub(super) update_context: bool,
    pub(super) summary: bool,
    pub(super) hit_target_index: Option<u8>,
    /// The rules that read each field, when explaining.
    pub(super) trace: Option<Vec<Step>>,
}

/// Words that introduce a field: never the index of a target.
pub(super) fn is_label(term: Term) -> bool {
    matches!(
        term,
        Term::AssetLabel
            | Term::EntryLabel(_)
            | Term::TargetLabel
            | Term::StopLabel
            | Term::Kind(_)
            | Term::DirectionHint(_)
    )
}

/// How a word was read, for the trace: `entry label "Compra"`, `verb stem "ating" (atingido)`.
pub(super) fn rule(reading: Reading, w: Word<'_>) -> String {
    match reading.stem {
        Some(stem) => format!("verb stem \"{stem}\" ({})", w.raw),
        None => format!("{} \"{}\"", reading.family, w.raw),
    }
}

impl<'t, 'a> Scan<'t, 'a> {
    pub(super) fn new(toks: &'t [Tok<'a>], date: NaiveDate, explain: bool) -> Self {
        Self {
            toks,
            i: 0,
            date,
            asset: None,
            invalid_asset: None,
            first_ticker: None,
            kind: None,
            entry_direction: None,
            direction_hint: None,
            entry: None,
            targets: Vec::new(),
            target_final: None,
            stop: None,
            stop_is_gain: false,
            valid_until: None,
            warnings: Vec::new(),
            cancelled: false,
            closed: false,
            hit_word: false,
            stop_hit: false,
            bare_stop: false,
            bare_target: false,
            update_context: false,
            summary: false,
            hit_target_index: None,
            trace: explain.then(Vec::new),
        }
    }

    /// Records which rule read a field; the closures run only when explaining.
    pub(super) fn note(
        &mut self,
        field: impl FnOnce() -> String,
        value: impl FnOnce() -> String,
        rule: impl FnOnce() -> String,
    ) {
        if let Some(trace) = &mut self.trace {
            trace.push(Step {
                field: field(),
                value: value(),
                rule: rule(),
            });
        }
    }

    pub(super) fn peek(&self, ahead: usize) -> Option<Tok<'a>> {
        self.toks.get(self.i + ahead).copied()
    }

    pub(super) fn word(&self, ahead: usize) -> Option<Word<'a>> {
        match self.peek(ahead) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    pub(super) fn run(&mut self) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Word(w) => self.on_word(w),
                Tok::Num(n) => self.on_number(n),
                Tok::Punct(_) | Tok::Newline => self.i += 1,
            }
        }
    }

    /// "1º alvo", "2ª meta", "3° alvo".
    fn on_number(&mut self, n: &'a str) {
        if self.ordinal_at(1)
            && let (Some(sign), Some(label)) = (self.word(1), self.word(2))
        {
            let index = n.parse::<u8>().ok();
            self.i += 3;
            self.note(
                || "target index".into(),
                || n.into(),
                || {
                    format!(
                        "ordinal \"{n}{}\" before target label \"{}\"",
                        sign.raw, label.raw
                    )
                },
            );
            self.read_target(index, false, label);
            return;
        }
        self.i += 1;
    }

    fn on_word(&mut self, w: Word<'a>) {
        let reading = read(w.key());
        let handled = match reading.term {
            Term::AssetLabel => self.read_asset(w),
            Term::EntryLabel(direction) => self.read_entry(direction, reading, w),
            Term::Price
                if self
                    .word(1)
                    .is_some_and(|n| matches!(n.key(), b"entrada" | b"de")) =>
            {
                self.read_entry(None, reading, w)
            }
            Term::DirectionHint(d) => {
                self.hint(d, reading, w);
                self.read_entry_after_hint(d, reading, w)
            }
            Term::TargetLabel => self.read_target_label(w),
            Term::Ordinal(index) => self.read_ordinal(index, reading, w),
            Term::StopLabel => self.read_stop(w),
            Term::Kind(kind) => self.read_kind(kind, 1, reading, w),
            Term::Day if self.word(1).is_some_and(|t| t.key() == b"trade") => {
                self.read_kind(SignalKind::DayTrade, 2, reading, w)
            }
            Term::Validity => self.read_validity(),
            Term::Stopped | Term::Cancel | Term::Close | Term::Reached | Term::Partial => {
                self.on_event_word(reading, w);
                false
            }
            Term::Context => {
                self.update_context = true;
                false
            }
            Term::Summary => {
                self.summary = true;
                self.note(|| "summary".into(), || w.raw.into(), || rule(reading, w));
                false
            }
            Term::Price | Term::Day | Term::Cardinal(_) | Term::Other => false,
        };
        if handled {
            return;
        }
        if self.first_ticker.is_none() && Ticker::is_ticker_shaped(w.raw) {
            self.first_ticker = Some(w.raw);
            self.note(|| "asset".into(), || w.raw.into(), || "ticker shape".into());
        }
        self.i += 1;
    }

    fn hint(&mut self, d: Direction, reading: Reading, w: Word<'a>) {
        if d == Direction::Short || self.direction_hint.is_none() {
            self.direction_hint = Some(d);
            self.note(
                || "direction".into(),
                || format!("{d:?}"),
                || rule(reading, w),
            );
        }
    }

    /// "vendido em 128.350": a direction word followed by a price is an entry.
    fn read_entry_after_hint(&mut self, d: Direction, reading: Reading, w: Word<'a>) -> bool {
        let at = self.i;
        self.i += 1;
        match self.read_value(true) {
            Some((_, false)) if self.entry.is_none() => {
                self.i = at;
                self.read_entry(Some(d), reading, w)
            }
            _ => {
                self.i = at;
                false
            }
        }
    }

    fn on_event_word(&mut self, reading: Reading, w: Word<'a>) {
        let event = match reading.term {
            Term::Stopped => {
                self.stop_hit = true;
                self.update_context = true;
                "stop_hit"
            }
            Term::Cancel => {
                self.cancelled = true;
                "cancelled"
            }
            Term::Close => {
                self.closed = true;
                "closed"
            }
            Term::Partial => {
                self.hit_word = true;
                self.update_context = true;
                "target_hit (partial exit)"
            }
            _ => {
                self.hit_word = true;
                "target_hit"
            }
        };
        self.note(|| "event".into(), || event.into(), || rule(reading, w));
    }

    /// Skips separators and prepositions between a label and its value; with `assets`, also a
    /// ticker between a verb and its price ("Comprando **PETR4** a 30,50").
    pub(super) fn skip_fillers(&mut self, assets: bool) {
        while let Some(tok) = self.peek(0) {
            let filler = match tok {
                Tok::Punct(c) if LABEL_SEPARATORS.contains(&c) => {
                    // "-25%" is a value, not a dash.
                    !(c == '-'
                        && matches!(self.peek(1), Some(Tok::Num(_)))
                        && matches!(self.peek(2), Some(Tok::Punct('%'))))
                }
                Tok::Word(w) if is_preposition(w.key()) => true,
                Tok::Word(w) if assets && Ticker::is_ticker_shaped(w.raw) => {
                    self.take_asset(w, "ticker after the entry verb");
                    true
                }
                Tok::Word(w) if assets => match read(w.key()) {
                    reading @ Reading {
                        term: Term::DirectionHint(d),
                        ..
                    } => {
                        self.hint(d, reading, w);
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !filler {
                return;
            }
            self.i += 1;
        }
    }

    /// Reads a price after a label: `(value, is_percent)`, or `None` when none follows.
    pub(super) fn read_value(&mut self, assets: bool) -> Option<(RawPrice<'a>, bool)> {
        self.skip_fillers(assets);
        let negative = matches!(self.peek(0), Some(Tok::Punct('-')));
        let at = self.i + usize::from(negative);
        let Some(Tok::Num(raw)) = self.toks.get(at).copied() else {
            return None;
        };
        self.i = at + 1;
        let percent = matches!(self.peek(0), Some(Tok::Punct('%')));
        if percent {
            self.i += 1;
        }
        Some((RawPrice { raw }, percent || negative))
    }

    pub(super) fn take_asset(&mut self, value: Word<'a>, why: &'static str) {
        match self.asset {
            None => {
                self.asset = Some(value.raw);
                self.note(|| "asset".into(), || value.raw.into(), || why.into());
            }
            Some(a) if a.eq_ignore_ascii_case(value.raw) => {}
            Some(_) => self
                .warnings
                .push(format!("second asset {} ignored", value.raw)),
        }
    }

    fn read_asset(&mut self, label: Word<'a>) -> bool {
        let colon = matches!(self.peek(1), Some(Tok::Punct(c)) if LABEL_SEPARATORS.contains(&c));
        let at = 1 + usize::from(colon);
        let Some(value) = self.word(at) else {
            self.i += 1;
            return true;
        };
        if Ticker::is_ticker_shaped(value.raw) {
            if self.asset.is_none() {
                self.asset = Some(value.raw);
                self.note(
                    || "asset".into(),
                    || value.raw.into(),
                    || format!("asset label \"{}\"", label.raw),
                );
            } else {
                self.take_asset(value, "");
            }
            self.i += at + 1;
        } else {
            if colon && self.invalid_asset.is_none() {
                self.invalid_asset = Some(value.raw);
            }
            self.i += 1;
        }
        true
    }

    fn read_entry(&mut self, direction: Option<Direction>, reading: Reading, w: Word<'a>) -> bool {
        self.i += 1;
        let Some((low, percent)) = self.read_value(true) else {
            return true;
        };
        if percent || self.entry.is_some() {
            return true;
        }
        let (high, connector) = self.read_range_end();
        self.entry = Some((low, high));
        self.entry_direction = Some(direction);
        self.note(
            || "entry".into(),
            || match high {
                Some(h) => format!("{} {} {}", low.raw, connector, h.raw),
                None => low.raw.into(),
            },
            || {
                let mut r = rule(reading, w);
                if let Some(d) = direction {
                    r.push_str(&format!(" ({d:?})"));
                }
                if high.is_some() {
                    r.push_str(&format!(", range \"{connector}\""));
                }
                r
            },
        );
        true
    }

    /// After a first price: `a`, `à`, `até`, `e`, `-`, `/`, `max` and a second price.
    fn read_range_end(&mut self) -> (Option<RawPrice<'a>>, &'a str) {
        let connector = match self.peek(0) {
            Some(Tok::Punct(c)) if RANGE_SEPARATORS.contains(&c) => c.len_utf8(),
            Some(Tok::Word(w)) if is_range_word(w.key()) => w.raw.len(),
            _ => 0,
        };
        if connector == 0 {
            return (None, "");
        }
        let text = match self.peek(0) {
            Some(Tok::Word(w)) => w.raw,
            _ => "-",
        };
        let mut at = self.i + 1;
        while matches!(self.toks.get(at), Some(Tok::Punct(':'))) {
            at += 1;
        }
        let Some(Tok::Num(raw)) = self.toks.get(at).copied() else {
            return (None, "");
        };
        if matches!(self.toks.get(at + 1), Some(Tok::Punct('%' | '/'))) {
            return (None, "");
        }
        self.i = at + 1;
        (Some(RawPrice { raw }), text)
    }

    fn read_kind(&mut self, kind: SignalKind, words: usize, reading: Reading, w: Word<'a>) -> bool {
        if self.kind.is_none() {
            self.kind = Some(kind);
            self.note(
                || "kind".into(),
                || format!("{kind:?}"),
                || rule(reading, w),
            );
        }
        self.i += words;
        if self.word(0).is_some_and(|t| t.key() == b"trade") {
            self.i += 1;
        }
        true
    }

    /// "até dia 28/10", "válido até 28/10/2025", "validade: 28/10".
    fn read_validity(&mut self) -> bool {
        let mut at = self.i + 1;
        while let Some(tok) = self.toks.get(at) {
            match tok {
                Tok::Punct(c) if LABEL_SEPARATORS.contains(c) => at += 1,
                Tok::Word(f) if matches!(f.key(), b"dia" | b"o" | b"ate" | b"em") => at += 1,
                _ => break,
            }
        }
        let day_month = match self.toks.get(at..at + 3) {
            Some([Tok::Num(d), Tok::Punct('/'), Tok::Num(m)]) => Some((*d, *m)),
            _ => None,
        };
        let Some((d, m)) = day_month else {
            return false;
        };
        at += 3;
        let year = match self.toks.get(at..at + 2) {
            Some([Tok::Punct('/'), Tok::Num(y)]) => {
                at += 2;
                y.parse::<i32>()
                    .ok()
                    .map(|y| if y < 100 { 2000 + y } else { y })
            }
            _ => None,
        };
        self.i = at;
        let (Ok(d), Ok(m)) = (d.parse::<u32>(), m.parse::<u32>()) else {
            return true;
        };
        let date = match year {
            Some(y) => NaiveDate::from_ymd_opt(y, m, d),
            None => NaiveDate::from_ymd_opt(self.date.year(), m, d).and_then(|this_year| {
                if this_year < self.date {
                    NaiveDate::from_ymd_opt(self.date.year() + 1, m, d)
                } else {
                    Some(this_year)
                }
            }),
        };
        match date {
            Some(date) => {
                if self.valid_until.is_none() {
                    self.valid_until = Some(date);
                    self.note(
                        || "valid until".into(),
                        || date.to_string(),
                        || "validity word + day/month".into(),
                    );
                }
            }
            None => self
                .warnings
                .push(format!("validity date {d}/{m} does not exist")),
        }
        true
    }
}
