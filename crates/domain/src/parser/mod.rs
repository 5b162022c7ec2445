//! The message parser: one pure function from a Telegram text to a [`ParseOutcome`].
//!
//! It reads the layouts channels really use (SPEC §2.4): labelled lines in any case, with or
//! without colons, Markdown, emojis and CRLF, one-line calls, Brazilian and dot decimals, ranges,
//! percent targets, validity dates and update messages. It works in one pass over borrowed
//! tokens, compiles nothing and allocates only for what it returns.

mod lexer;
mod numbers;
mod report;
mod vocabulary;

use chrono::{Datelike, NaiveDate};

use crate::model::{
    Direction, EntryRange, IgnoreReason, ParseOutcome, Price, RejectReason, SignalKind,
    SignalUpdate, Ticker, TradeCall, TradeCallError, UpdateEvent,
};
use lexer::{Lexer, Tok, Word};
use numbers::{Style, read_price};
pub use report::{ParseReport, SignalReport, UpdateReport};
use vocabulary::{
    Term, classify, is_filler, is_final_marker, is_range_connector, is_stop_triggered,
    is_target_label, trim_digits,
};

/// The warning on a call whose stop is a "stop gain" (not checked against the entry).
pub const STOP_GAIN_WARNING: &str =
    "stop gain: a profit-protecting stop, not checked against the entry";

/// Version of the parsing rules, recorded with every archived message and signal.
pub const PARSER_VERSION: &str = "2.0.0";

/// Parses one message text; `date` is the message date, used to infer the year of validity dates.
pub fn parse(text: &str, date: NaiveDate) -> ParseOutcome {
    if text.trim().is_empty() {
        return ParseOutcome::Ignored(IgnoreReason::Empty);
    }
    let mut tokens: Vec<Tok<'_>> = Vec::with_capacity(text.len() / 3 + 8);
    tokens.extend(Lexer::new(text));
    let mut scan = Scan::new(&tokens, date);
    scan.run();
    scan.decide()
}

/// A price as written, bound to the field its label names.
#[derive(Debug, Clone, Copy)]
struct RawPrice<'a> {
    raw: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Entry,
    Target,
    Stop,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Entry => "entry",
            Field::Target => "target",
            Field::Stop => "stop",
        }
    }
}

/// What one pass over the tokens found.
struct Scan<'t, 'a> {
    toks: &'t [Tok<'a>],
    i: usize,
    date: NaiveDate,
    asset: Option<&'a str>,
    invalid_asset: Option<&'a str>,
    first_ticker: Option<&'a str>,
    kind: Option<SignalKind>,
    entry_direction: Option<Option<Direction>>,
    direction_hint: Option<Direction>,
    entry: Option<(RawPrice<'a>, Option<RawPrice<'a>>)>,
    targets: Vec<(Option<u8>, RawPrice<'a>)>,
    target_final: Option<RawPrice<'a>>,
    stop: Option<RawPrice<'a>>,
    stop_is_gain: bool,
    valid_until: Option<NaiveDate>,
    warnings: Vec<String>,
    // update evidence
    cancelled: bool,
    closed: bool,
    hit_word: bool,
    stop_hit: bool,
    update_context: bool,
    hit_target_index: Option<u8>,
}

impl<'t, 'a> Scan<'t, 'a> {
    fn new(toks: &'t [Tok<'a>], date: NaiveDate) -> Self {
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
            update_context: false,
            hit_target_index: None,
        }
    }

    fn peek(&self, ahead: usize) -> Option<Tok<'a>> {
        self.toks.get(self.i + ahead).copied()
    }

    fn word(&self, ahead: usize) -> Option<Word<'a>> {
        match self.peek(ahead) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn run(&mut self) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Word(w) => self.on_word(w),
                Tok::Num(n) => self.on_number(n),
                Tok::Punct(_) | Tok::Newline => self.i += 1,
            }
        }
    }

    fn on_number(&mut self, n: &'a str) {
        // "1º alvo", "2ª meta"
        let ordinal = self
            .word(1)
            .is_some_and(|w| matches!(w.raw, "º" | "ª") || matches!(w.key(), b"o" | b"a"));
        if ordinal && self.word(2).is_some_and(|w| is_target_label(w.key())) {
            let index = n.parse::<u8>().ok();
            self.i += 3;
            self.read_target(index, false);
            return;
        }
        self.i += 1;
    }

    fn on_word(&mut self, w: Word<'a>) {
        let handled = match classify(w.key()) {
            Term::AssetLabel => self.read_asset(),
            Term::EntryLabel(direction) => self.read_entry(direction),
            Term::Price
                if self
                    .word(1)
                    .is_some_and(|n| matches!(n.key(), b"entrada" | b"de")) =>
            {
                self.read_entry(None)
            }
            Term::DirectionHint(Direction::Short) => {
                self.direction_hint = Some(Direction::Short);
                false
            }
            Term::DirectionHint(Direction::Long) => {
                self.direction_hint.get_or_insert(Direction::Long);
                false
            }
            Term::TargetLabel => self.read_target_label(w),
            Term::StopLabel => self.read_stop(),
            Term::Stopped => {
                self.stop_hit = true;
                self.update_context = true;
                false
            }
            Term::Kind(kind) => self.read_kind(kind, 1),
            Term::Day if self.word(1).is_some_and(|t| t.key() == b"trade") => {
                self.read_kind(SignalKind::DayTrade, 2)
            }
            Term::Validity => self.read_validity(),
            Term::Cancel => {
                self.cancelled = true;
                false
            }
            Term::Close => {
                self.closed = true;
                false
            }
            Term::Reached => {
                self.hit_word = true;
                false
            }
            Term::Context => {
                self.update_context = true;
                false
            }
            Term::Price | Term::Day | Term::Other => false,
        };
        if handled {
            return;
        }
        if self.first_ticker.is_none() && Ticker::is_ticker_shaped(w.raw) {
            self.first_ticker = Some(w.raw);
        }
        self.i += 1;
    }

    /// Skips a colon, a dash or filler words between a label and its value.
    fn skip_fillers(&mut self) {
        while let Some(tok) = self.peek(0) {
            let filler = match tok {
                Tok::Punct(':' | '-' | '–' | '—' | '=' | '.') => {
                    // "-25%" is a value, not a dash.
                    !(matches!(tok, Tok::Punct('-'))
                        && matches!(self.peek(1), Some(Tok::Num(_)))
                        && matches!(self.peek(2), Some(Tok::Punct('%'))))
                }
                Tok::Word(w) => is_filler(w.key()),
                _ => false,
            };
            if !filler {
                return;
            }
            self.i += 1;
        }
    }

    /// Reads a price after a label: `(value, is_percent)`, or `None` when none follows.
    fn read_value(&mut self) -> Option<(RawPrice<'a>, bool)> {
        self.skip_fillers();
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

    fn read_asset(&mut self) -> bool {
        let colon = matches!(self.peek(1), Some(Tok::Punct(':' | '-')));
        let at = 1 + usize::from(colon);
        let Some(value) = self.word(at) else {
            self.i += 1;
            return true;
        };
        if Ticker::is_ticker_shaped(value.raw) {
            if self.asset.is_none() {
                self.asset = Some(value.raw);
            } else if !self
                .asset
                .is_some_and(|a| a.eq_ignore_ascii_case(value.raw))
            {
                self.warnings
                    .push(format!("second asset {} ignored", value.raw));
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

    fn read_entry(&mut self, direction: Option<Direction>) -> bool {
        self.i += 1;
        let Some((low, percent)) = self.read_value() else {
            return true;
        };
        if percent || self.entry.is_some() {
            return true;
        }
        let high = self.read_range_end();
        self.entry = Some((low, high));
        self.entry_direction = Some(direction);
        true
    }

    /// After a first price: `a`, `à`, `até`, `-`, `/`, `e`, `max` and a second price.
    fn read_range_end(&mut self) -> Option<RawPrice<'a>> {
        let connector = match self.peek(0) {
            Some(Tok::Punct('-' | '–' | '—' | '/' | '~')) => true,
            Some(Tok::Word(w)) => is_range_connector(w.key()),
            _ => false,
        };
        if !connector {
            return None;
        }
        let mut at = self.i + 1;
        while matches!(self.toks.get(at), Some(Tok::Punct(':'))) {
            at += 1;
        }
        let Some(Tok::Num(raw)) = self.toks.get(at).copied() else {
            return None;
        };
        if matches!(self.toks.get(at + 1), Some(Tok::Punct('%' | '/'))) {
            return None;
        }
        self.i = at + 1;
        Some(RawPrice { raw })
    }

    fn read_target_label(&mut self, w: Word<'a>) -> bool {
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
        if index.is_none()
            && let (Some(Tok::Num(n)), next) = (self.peek(0), self.peek(1))
        {
            let is_index = n.len() <= 2
                && n.bytes().all(|b| b.is_ascii_digit())
                && matches!(
                    next,
                    Some(Tok::Punct(':' | '-' | '–' | ')' | '.'))
                        | Some(Tok::Num(_))
                        | Some(Tok::Word(_))
                );
            if is_index {
                index = n.parse().ok();
                self.i += 1;
            }
        }
        let is_final = self.word(0).is_some_and(|f| is_final_marker(f.key()));
        if is_final {
            self.i += 1;
        }
        self.read_target(index, is_final);
        true
    }

    fn read_target(&mut self, index: Option<u8>, is_final: bool) {
        self.update_context = true;
        let Some((value, percent)) = self.read_value() else {
            self.hit_target_index = index.or(self.hit_target_index);
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
        if is_final {
            self.target_final.get_or_insert(value);
        } else if index.is_some() && self.targets.iter().any(|(i, _)| *i == index) {
            self.warnings.push(format!(
                "target {} given twice; the first is kept",
                index.unwrap_or(0)
            ));
        } else {
            self.targets.push((index, value));
            // "Alvos: 1,15 / 2,15 / 3,50"
            while matches!(self.peek(0), Some(Tok::Punct('/' | ';' | ','))) {
                match self.peek(1) {
                    Some(Tok::Num(raw)) if !matches!(self.peek(2), Some(Tok::Punct('%'))) => {
                        self.targets.push((None, RawPrice { raw }));
                        self.i += 2;
                    }
                    _ => break,
                }
            }
        }
    }

    fn read_stop(&mut self) -> bool {
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
            && is_stop_triggered(next.key())
        {
            self.stop_hit = true;
            self.i += 1;
            return true;
        }
        match self.read_value() {
            Some((value, false)) => {
                if self.stop.is_none() {
                    self.stop = Some(value);
                    self.stop_is_gain = gain;
                }
            }
            Some((value, true)) => self
                .warnings
                .push(format!("stop {}% is a percentage, not a price", value.raw)),
            None => {
                // "CYREW296 stop" on its own line: the stop was hit.
                if matches!(self.peek(0), None | Some(Tok::Newline)) {
                    self.stop_hit = true;
                }
            }
        }
        true
    }

    fn read_kind(&mut self, kind: SignalKind, words: usize) -> bool {
        self.kind.get_or_insert(kind);
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
                Tok::Punct(':') => at += 1,
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
                self.valid_until.get_or_insert(date);
            }
            None => self
                .warnings
                .push(format!("validity date {d}/{m} does not exist")),
        }
        true
    }

    fn event(&self) -> Option<UpdateEvent> {
        if self.cancelled {
            Some(UpdateEvent::Cancelled)
        } else if self.stop_hit {
            Some(UpdateEvent::StopHit)
        } else if self.hit_word && (self.hit_target_index.is_some() || self.update_context) {
            Some(UpdateEvent::TargetHit)
        } else if self.closed {
            Some(UpdateEvent::Closed)
        } else {
            None
        }
    }

    fn decide(mut self) -> ParseOutcome {
        let has_target = !self.targets.is_empty() || self.target_final.is_some();
        let call_like = self.entry.is_some() || (has_target && self.stop.is_some());
        let asset = self.asset.or(self.first_ticker).and_then(Ticker::parse);
        if let Some(event) = self.event() {
            let full_call = self.entry.is_some() && (has_target || self.stop.is_some());
            if !full_call && (asset.is_some() || self.update_context) {
                let target_index = (event == UpdateEvent::TargetHit)
                    .then_some(self.hit_target_index)
                    .flatten();
                return ParseOutcome::Update(SignalUpdate {
                    asset,
                    event,
                    target_index,
                });
            }
        }
        if !call_like {
            return if asset.is_some() && (has_target || self.stop.is_some()) {
                ParseOutcome::Rejected(RejectReason::Inconsistent(
                    TradeCallError::Incomplete.to_string(),
                ))
            } else {
                ParseOutcome::Ignored(IgnoreReason::NotATradeCall)
            };
        }
        let Some(asset) = asset else {
            return ParseOutcome::Rejected(match self.invalid_asset {
                Some(raw) => RejectReason::InvalidAsset(raw.to_owned()),
                None => RejectReason::NoAsset,
            });
        };
        match self.build(asset) {
            Ok(call) => ParseOutcome::Signal(call),
            Err(reason) => ParseOutcome::Rejected(reason),
        }
    }

    fn build(&mut self, asset: Ticker) -> Result<TradeCall, RejectReason> {
        let mut style = Style::Unknown;
        let raws = self
            .entry
            .iter()
            .flat_map(|(l, h)| std::iter::once(l).chain(h.iter()));
        let raws = raws
            .chain(self.targets.iter().map(|(_, t)| t))
            .chain(self.target_final.iter())
            .chain(self.stop.iter());
        for raw in raws {
            style = style.merge(Style::of(raw.raw));
        }
        let price = |field: Field, raw: RawPrice<'_>| {
            read_price(raw.raw, style).map_err(|why| RejectReason::UnreadablePrice {
                field: field.name().to_owned(),
                raw: raw.raw.to_owned(),
                why,
            })
        };
        let entry = match self.entry {
            Some((low, high)) => {
                let low = price(Field::Entry, low)?;
                let high = high
                    .map(|h| price(Field::Entry, h))
                    .transpose()?
                    .unwrap_or(low);
                if high < low {
                    self.warnings
                        .push("entry range written high to low".to_owned());
                }
                Some(EntryRange::new(low, high))
            }
            None => None,
        };
        let targets = self
            .targets
            .iter()
            .map(|&(_, t)| price(Field::Target, t))
            .collect::<Result<Vec<Price>, _>>()?;
        let target_final = self
            .target_final
            .map(|t| price(Field::Target, t))
            .transpose()?;
        let stop = self.stop.map(|s| price(Field::Stop, s)).transpose()?;
        let direction = self.direction(entry, targets.first().copied().or(target_final), stop);
        // A "stop gain" protects profit and may sit beyond the entry: keep it out of the check.
        let checked_stop = if self.stop_is_gain { None } else { stop };
        if self.stop_is_gain {
            self.warnings.push(STOP_GAIN_WARNING.to_owned());
        }
        let mut call = TradeCall::new(
            asset,
            self.kind,
            direction,
            entry,
            targets,
            target_final,
            checked_stop,
            self.valid_until,
            std::mem::take(&mut self.warnings),
        )
        .map_err(|e| RejectReason::Inconsistent(e.to_string()))?;
        call.stop = stop;
        Ok(call)
    }

    /// The entry label's direction, else a hint word (VENDIDO), else what the prices say.
    fn direction(
        &self,
        entry: Option<EntryRange>,
        first_target: Option<Price>,
        stop: Option<Price>,
    ) -> Direction {
        if let Some(Some(d)) = self.entry_direction {
            return d;
        }
        if let Some(d) = self.direction_hint {
            return d;
        }
        let reference = entry.map(|e| e.min());
        match (reference, first_target, stop) {
            (Some(e), Some(t), _) if t < e => Direction::Short,
            (Some(e), None, Some(s)) if s > e => Direction::Short,
            (None, Some(t), Some(s)) if t < s => Direction::Short,
            _ => Direction::Long,
        }
    }
}

#[cfg(test)]
mod tests;
