//! Splits a message into words, numbers, punctuation and line breaks, without allocating.
//!
//! Everything that carries no meaning for a trade call is dropped here: emojis, Markdown
//! markers, currency signs (`R$`, `US$`), carriage returns and extra spaces.

/// One token of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// Letters and digits starting with a letter (`Alvo`, `TP1`, `BOVAW32`, `até`).
    Word(Word<'a>),
    /// Digits with inner `.` or `,` separators (`1.250,50`, `0.255`, `28`).
    Num(&'a str),
    /// A punctuation mark that can matter (`:`, `-`, `/`, `%` …).
    Punct(char),
    /// A line break.
    Newline,
}

/// Iterates over the tokens of a text.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// Digits with `.`/`,` only when a digit follows.
    fn number(&mut self, start: usize) -> &'a str {
        let bytes = self.text.as_bytes();
        let mut end = start;
        while end < bytes.len() {
            let b = bytes[end];
            let inner_sep =
                matches!(b, b'.' | b',') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
            if !(b.is_ascii_digit() || inner_sep) {
                break;
            }
            end += 1;
        }
        self.pos = end;
        &self.text[start..end]
    }

    /// Letters and digits, ASCII fast, any alphabet otherwise. A word glued to the number
    /// before it takes letters only, so `2,30a2,40` and `1,05à1,09` keep their upper bound.
    fn word(&mut self, start: usize) -> &'a str {
        let bytes = self.text.as_bytes();
        let glued = start > 0 && bytes[start - 1].is_ascii_digit();
        let mut end = start;
        while end < bytes.len() {
            let b = bytes[end];
            if b.is_ascii_alphabetic() || (b.is_ascii_digit() && !glued) {
                end += 1;
            } else if b >= 0x80 {
                match self.text[end..].chars().next() {
                    Some(c) if c.is_alphabetic() || (c.is_alphanumeric() && !glued) => {
                        end += c.len_utf8();
                    }
                    _ => break,
                }
            } else {
                break;
            }
        }
        self.pos = end;
        &self.text[start..end]
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Tok<'a>;

    fn next(&mut self) -> Option<Tok<'a>> {
        let bytes = self.text.as_bytes();
        loop {
            let start = self.pos;
            let b = *bytes.get(start)?;
            if b.is_ascii_digit() {
                return Some(Tok::Num(self.number(start)));
            }
            if b.is_ascii_alphabetic() {
                return self.word_token(start);
            }
            if b < 0x80 {
                self.pos += 1;
                match b {
                    b'\n' => return Some(Tok::Newline),
                    b':' | b'-' | b'/' | b'%' | b'+' | b'(' | b')' | b'.' | b',' | b';' | b'~'
                    | b'!' | b'?' | b'|' | b'=' => {
                        return Some(Tok::Punct(char::from(b)));
                    }
                    _ => continue,
                }
            }
            let c = self.text[start..].chars().next()?;
            if c.is_alphabetic() {
                return self.word_token(start);
            }
            self.pos += c.len_utf8();
            if matches!(c, '–' | '—') {
                return Some(Tok::Punct(c));
            }
            if c == '°' {
                // "3° alvo": the degree sign written for the ordinal one.
                return Some(Tok::Word(Word::new(&self.text[start..self.pos])));
            }
        }
    }
}

impl<'a> Lexer<'a> {
    fn word_token(&mut self, start: usize) -> Option<Tok<'a>> {
        let word = self.word(start);
        // Currency prefixes: R$, US$ are dropped.
        if self.text.as_bytes().get(self.pos) == Some(&b'$')
            && (word.eq_ignore_ascii_case("r") || word.eq_ignore_ascii_case("us"))
        {
            self.pos += 1;
            return self.next();
        }
        Some(Tok::Word(Word::new(word)))
    }
}

/// Folds a Portuguese letter to lower-case ASCII (`Ç` → `c`, `É` → `e`); others lower-cased.
pub(crate) fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'a',
        'é' | 'ê' | 'è' | 'ë' | 'É' | 'Ê' | 'È' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        c => c.to_ascii_lowercase(),
    }
}

/// The longest folded prefix a [`Word`] keeps for comparisons.
const KEY_LEN: usize = 16;

/// A word with its folded key computed once, so that every label comparison is a short byte
/// comparison: `OPERAÇÃO` has the key `operacao`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    /// The word as written.
    pub(crate) raw: &'a str,
    key: [u8; KEY_LEN],
    len: u8,
}

impl<'a> Word<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        let mut key = [0u8; KEY_LEN];
        let mut len = 0;
        if raw.is_ascii() {
            let n = raw.len().min(KEY_LEN);
            key[..n].copy_from_slice(&raw.as_bytes()[..n]);
            let key = key.map(|b| b.to_ascii_lowercase());
            return Self {
                raw,
                key,
                len: n as u8,
            };
        }
        for c in raw.chars().map(fold) {
            if len == KEY_LEN {
                break;
            }
            // Letters without an ASCII fold (º, ß, Cyrillic …) can never match a label.
            key[len] = if c.is_ascii() { c as u8 } else { 0xFF };
            len += 1;
        }
        Self {
            raw,
            key,
            len: len as u8,
        }
    }

    /// The folded key (at most `KEY_LEN` characters).
    pub(crate) fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_call() {
        let toks: Vec<_> =
            Lexer::new("🟢**Compra:** R$ 1,04 a 1.250,50\r\n*Alvo 1*: 10%").collect();
        assert_eq!(
            toks,
            vec![
                Tok::Word(Word::new("Compra")),
                Tok::Punct(':'),
                Tok::Num("1,04"),
                Tok::Word(Word::new("a")),
                Tok::Num("1.250,50"),
                Tok::Newline,
                Tok::Word(Word::new("Alvo")),
                Tok::Num("1"),
                Tok::Punct(':'),
                Tok::Num("10"),
                Tok::Punct('%'),
            ]
        );
    }

    #[test]
    fn separators_only_inside_numbers() {
        let toks: Vec<_> = Lexer::new("0.25-0.27. 1,06, 28/10").collect();
        assert_eq!(
            toks,
            vec![
                Tok::Num("0.25"),
                Tok::Punct('-'),
                Tok::Num("0.27"),
                Tok::Punct('.'),
                Tok::Num("1,06"),
                Tok::Punct(','),
                Tok::Num("28"),
                Tok::Punct('/'),
                Tok::Num("10"),
            ]
        );
    }

    #[test]
    fn words_glued_to_numbers_split_off() {
        let toks: Vec<_> = Lexer::new("2,30a2,40 1,05à1,09 PETR4").collect();
        assert_eq!(
            toks,
            vec![
                Tok::Num("2,30"),
                Tok::Word(Word::new("a")),
                Tok::Num("2,40"),
                Tok::Num("1,05"),
                Tok::Word(Word::new("à")),
                Tok::Num("1,09"),
                Tok::Word(Word::new("PETR4")),
            ]
        );
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(Word::new("OPERAÇÃO").key(), b"operacao");
        assert_eq!(Word::new("Até").key(), b"ate");
        assert_eq!(Word::new("CANCELADAMENTEXYZ").key(), b"canceladamentexy");
    }
}
