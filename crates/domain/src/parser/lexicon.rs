//! The lexicon: every word family the parser reads — labels, verb stems, ordinal words,
//! prepositions, separators — as data, here and nowhere else. Teaching the parser a new way of
//! writing is adding a row to a family below (and a case to `fixtures/corpus/`).
//!
//! Words are written folded (lower-case ASCII, accents removed: `operação` is `operacao`).
//! Exact words are looked up by binary search in one index built on first use; a word no family
//! lists is then tried against the verb stems, which cover every inflection of a verb
//! (`ating` reads atingido, atingida, atingimos, atingindo, atingiu …).

use std::sync::OnceLock;

use crate::model::{Direction, SignalKind};

/// What a word means to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// Names the asset that follows.
    AssetLabel,
    /// Introduces the entry price, with the direction the word implies.
    EntryLabel(Option<Direction>),
    /// "Preço": an entry label when followed by "de entrada" / "entrada".
    Price,
    /// A direction without a price (vendido, long).
    DirectionHint(Direction),
    /// Introduces a target.
    TargetLabel,
    /// Introduces the stop.
    StopLabel,
    /// The stop was hit.
    Stopped,
    /// A trading horizon (`Day` only with a following `Trade`).
    Kind(SignalKind),
    /// "Day", a kind when followed by "Trade".
    Day,
    /// May introduce a validity date.
    Validity,
    /// The call was cancelled.
    Cancel,
    /// The position was closed.
    Close,
    /// A target was reached.
    Reached,
    /// A partial exit: profit taken on part of the position.
    Partial,
    /// Words that make an update credible (operação, posição).
    Context,
    /// An ordinal word (`primeiro`, `terceira`): a target index before or after a target label.
    Ordinal(u8),
    /// A number word (`dois`, `três`): a target index after a target label.
    Cardinal(u8),
    /// A performance summary (balanço, estatísticas): counts gains and stops, updates nothing.
    Summary,
    /// Anything else.
    Other,
}

/// A family of words with one meaning; its name is what `parse --explain` shows.
#[derive(Debug)]
pub(crate) struct Family {
    /// Shown by `--explain`.
    pub(crate) name: &'static str,
    /// Folded words and what each means.
    pub(crate) words: &'static [(&'static str, Term)],
}

use Direction::{Long, Short};
use Term::*;

const LONG: Term = EntryLabel(Some(Long));
const SHORT: Term = EntryLabel(Some(Short));

/// Every exact-word family. A word belongs to one family only (a test checks).
pub(crate) const FAMILIES: &[Family] = &[
    Family {
        name: "asset label",
        words: &[
            ("ativo", AssetLabel),
            ("papel", AssetLabel),
            ("ticker", AssetLabel),
            ("acao", AssetLabel),
            ("opcao", AssetLabel),
            ("asset", AssetLabel),
            ("symbol", AssetLabel),
            ("codigo", AssetLabel),
        ],
    },
    Family {
        name: "entry label",
        words: &[
            ("compra", LONG),
            ("comprar", LONG),
            ("buy", LONG),
            ("venda", SHORT),
            ("vender", SHORT),
            ("sell", SHORT),
            ("compre", LONG),
            ("compro", LONG),
            ("compramos", LONG),
            ("comprando", LONG),
            ("comprem", LONG),
            ("vendemos", SHORT),
            ("vendendo", SHORT),
            ("vendam", SHORT),
            ("entrada", EntryLabel(None)),
            ("entry", EntryLabel(None)),
            ("entrar", EntryLabel(None)),
            ("entramos", EntryLabel(None)),
            ("entrando", EntryLabel(None)),
            ("entrei", EntryLabel(None)),
            ("entrou", EntryLabel(None)),
            ("premio", EntryLabel(None)),
            ("preco", Price),
        ],
    },
    Family {
        name: "direction word",
        words: &[
            ("vendido", DirectionHint(Short)),
            ("vendida", DirectionHint(Short)),
            ("vendidos", DirectionHint(Short)),
            ("short", DirectionHint(Short)),
            ("comprado", DirectionHint(Long)),
            ("comprada", DirectionHint(Long)),
            ("comprados", DirectionHint(Long)),
            ("long", DirectionHint(Long)),
        ],
    },
    Family {
        name: "target label",
        words: &[
            ("alvo", TargetLabel),
            ("alvos", TargetLabel),
            ("tp", TargetLabel),
            ("target", TargetLabel),
            ("targets", TargetLabel),
            ("meta", TargetLabel),
            ("metas", TargetLabel),
            ("objetivo", TargetLabel),
            ("objetivos", TargetLabel),
            ("take", TargetLabel),
            ("gain", TargetLabel),
        ],
    },
    Family {
        name: "stop label",
        words: &[
            ("stop", StopLabel),
            ("sl", StopLabel),
            ("stoploss", StopLabel),
        ],
    },
    Family {
        name: "stop verb",
        words: &[
            ("stopou", Stopped),
            ("stopei", Stopped),
            ("stopped", Stopped),
        ],
    },
    Family {
        name: "horizon",
        words: &[
            ("swing", Kind(SignalKind::SwingTrade)),
            ("swingtrade", Kind(SignalKind::SwingTrade)),
            ("daytrade", Kind(SignalKind::DayTrade)),
            ("day", Day),
            ("scalping", Kind(SignalKind::Scalping)),
            ("scalp", Kind(SignalKind::Scalping)),
            ("scalper", Kind(SignalKind::Scalping)),
            ("position", Kind(SignalKind::Position)),
        ],
    },
    Family {
        name: "validity word",
        words: &[
            ("ate", Validity),
            ("validade", Validity),
            ("valido", Validity),
            ("valida", Validity),
        ],
    },
    Family {
        name: "close verb",
        words: &[
            ("closed", Close),
            ("sai", Close),
            ("saiu", Close),
            ("saimos", Close),
            ("saindo", Close),
            ("sair", Close),
            ("saia", Close),
            ("saiam", Close),
            ("sairam", Close),
            ("fechada", Close),
            ("fechado", Close),
            ("fechadas", Close),
            ("fechados", Close),
            ("fechamos", Close),
            ("fechando", Close),
            ("fechou", Close),
            ("fechei", Close),
            ("feche", Close),
            ("fechem", Close),
            ("fechar", Close),
            ("zerou", Close),
            ("zerei", Close),
            ("liquide", Close),
            ("liquidem", Close),
        ],
    },
    Family {
        name: "target verb",
        words: &[
            ("hit", Reached),
            ("realizado", Reached),
            ("realizada", Reached),
        ],
    },
    Family {
        name: "partial exit",
        words: &[("parcial", Partial), ("parciais", Partial)],
    },
    Family {
        name: "update context",
        words: &[
            ("operacao", Context),
            ("posicao", Context),
            ("sinal", Context),
            ("ordem", Context),
            ("trade", Context),
        ],
    },
    Family {
        name: "ordinal word",
        words: &[
            ("primeiro", Ordinal(1)),
            ("primeira", Ordinal(1)),
            ("first", Ordinal(1)),
            ("segundo", Ordinal(2)),
            ("segunda", Ordinal(2)),
            ("second", Ordinal(2)),
            ("terceiro", Ordinal(3)),
            ("terceira", Ordinal(3)),
            ("third", Ordinal(3)),
            ("quarto", Ordinal(4)),
            ("quarta", Ordinal(4)),
            ("quinto", Ordinal(5)),
            ("quinta", Ordinal(5)),
        ],
    },
    Family {
        name: "number word",
        words: &[
            ("um", Cardinal(1)),
            ("uma", Cardinal(1)),
            ("dois", Cardinal(2)),
            ("duas", Cardinal(2)),
            ("tres", Cardinal(3)),
            ("quatro", Cardinal(4)),
            ("cinco", Cardinal(5)),
        ],
    },
    Family {
        name: "summary word",
        words: &[
            ("balanco", Summary),
            ("estatistica", Summary),
            ("estatisticas", Summary),
            ("resumo", Summary),
            ("placar", Summary),
            ("relatorio", Summary),
            ("desempenho", Summary),
            ("performance", Summary),
            ("resultado", Summary),
            ("resultados", Summary),
            ("acertos", Summary),
            ("assertividade", Summary),
            ("rentabilidade", Summary),
        ],
    },
];

/// Verb stems: a word starting with one (and listed in no family) takes its meaning, so every
/// inflection — participles, plurals, first-person plural, gerunds, imperatives — reads alike.
pub(crate) const STEMS: &[(&str, Term)] = &[
    ("ating", Reached),
    ("alcanc", Reached),
    ("bate", Reached),
    ("bati", Reached),
    ("stopa", Stopped),
    ("stope", Stopped),
    ("estop", Stopped),
    ("encerr", Close),
    ("finaliz", Close),
    ("zera", Close),
    ("zere", Close),
    ("liquida", Close),
    ("liquidou", Close),
    ("liquidei", Close),
    ("cancel", Cancel),
];

/// Words between a label and its value: prepositions and articles ("Compra **de**: 12,50",
/// "stop **em** 29", "Entrada **entre** …", "**por** 30,50").
pub(crate) const PREPOSITIONS: &[&str] = &[
    "de", "da", "do", "em", "entre", "min", "minimo", "na", "no", "zona", "regiao", "a", "ate",
    "preco", "entrada", "por", "pelo", "pela", "at", "ao", "premio", "para", "faixa",
];

/// Words joining the two ends of a range ("1,04 **a** 1,06", "entre 30 **e** 31").
pub(crate) const RANGE_WORDS: &[&str] = &["a", "ate", "e", "max", "maximo", "to"];

/// Words after "Alvo" that make it the final target.
pub(crate) const FINAL_WORDS: &[&str] = &["final", "geral", "maximo", "max", "ultimo"];

/// Words after "Stop" that report it was hit (besides every target verb).
pub(crate) const STOP_TRIGGER_WORDS: &[&str] = &[
    "acionado",
    "acionada",
    "executado",
    "executada",
    "ativado",
    "ativada",
];

/// Punctuation between a label and its value ("Alvo: 32", "Stop = 29", "VENDA | 9,90").
pub(crate) const LABEL_SEPARATORS: &[char] = &[':', '-', '–', '—', '=', '.', '|'];

/// Punctuation joining the two ends of a range ("0.25-0.27", "30/31").
pub(crate) const RANGE_SEPARATORS: &[char] = &['-', '–', '—', '/', '~'];

/// Punctuation between the items of a list ("Alvos: 1,15 / 2,15; 3,50").
pub(crate) const LIST_SEPARATORS: &[char] = &['/', ';', ',', '|'];

/// Signs after a number that make it an ordinal ("1º alvo", "2ª meta", "3° alvo", "1o alvo").
pub(crate) const ORDINAL_SIGNS: &[&str] = &["º", "ª", "°", "o", "a"];

/// How a word was recognised, for `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The meaning.
    pub(crate) term: Term,
    /// The family name, or "verb stem".
    pub(crate) family: &'static str,
    /// The stem, when a stem matched.
    pub(crate) stem: Option<&'static str>,
}

const UNKNOWN: Reading = Reading {
    term: Other,
    family: "",
    stem: None,
};

fn index() -> &'static [(&'static [u8], Term, &'static str)] {
    static INDEX: OnceLock<Vec<(&'static [u8], Term, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut all: Vec<_> = FAMILIES
            .iter()
            .flat_map(|f| f.words.iter().map(|(w, t)| (w.as_bytes(), *t, f.name)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    })
}

/// Reads a folded word: its family, else a verb stem, else `Other`.
pub(crate) fn read(key: &[u8]) -> Reading {
    let index = index();
    if let Ok(at) = index.binary_search_by(|(w, _, _)| (*w).cmp(key)) {
        let (_, term, family) = index[at];
        return Reading {
            term,
            family,
            stem: None,
        };
    }
    let target = trim_digits(key);
    if target.len() < key.len()
        && let Ok(at) = index.binary_search_by(|(w, _, _)| (*w).cmp(target))
        && index[at].1 == TargetLabel
    {
        // TP1, ALVO2
        return Reading {
            term: TargetLabel,
            family: index[at].2,
            stem: None,
        };
    }
    if key.len() < 4 {
        return UNKNOWN;
    }
    STEMS
        .iter()
        .find(|(stem, _)| key.starts_with(stem.as_bytes()))
        .map_or(UNKNOWN, |(stem, term)| Reading {
            term: *term,
            family: "verb stem",
            stem: Some(stem),
        })
}

/// The meaning of a folded word.
pub(crate) fn classify(key: &[u8]) -> Term {
    read(key).term
}

/// `tp1` → `tp`.
pub(crate) fn trim_digits(key: &[u8]) -> &[u8] {
    let digits = key.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    &key[..key.len() - digits]
}

fn listed(words: &[&str], key: &[u8]) -> bool {
    words.iter().any(|w| w.as_bytes() == key)
}

/// A preposition or article between a label and its value.
pub(crate) fn is_preposition(key: &[u8]) -> bool {
    listed(PREPOSITIONS, key)
}

/// A word joining the two ends of a range.
pub(crate) fn is_range_word(key: &[u8]) -> bool {
    listed(RANGE_WORDS, key)
}

/// A word making a target the final one.
pub(crate) fn is_final_word(key: &[u8]) -> bool {
    listed(FINAL_WORDS, key)
}

/// A word after "Stop" reporting it was hit.
pub(crate) fn is_stop_trigger(key: &[u8]) -> bool {
    listed(STOP_TRIGGER_WORDS, key) || classify(key) == Reached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_folded_and_in_one_family() {
        let mut seen = std::collections::HashSet::new();
        for family in FAMILIES {
            for (word, _) in family.words {
                assert!(
                    word.bytes().all(|b| b.is_ascii_lowercase()),
                    "{word} is not folded"
                );
                assert!(seen.insert(*word), "{word} is in two families");
            }
        }
        for (stem, _) in STEMS {
            assert!(stem.len() >= 4, "stem {stem} is too short to be safe");
        }
    }

    #[test]
    fn stems_read_every_inflection() {
        for w in [
            "atingido",
            "atingidos",
            "atingimos",
            "atingindo",
            "atingiu",
            "alcancamos",
            "bateu",
            "batemos",
            "batido",
            "batendo",
        ] {
            assert_eq!(classify(w.as_bytes()), Reached, "{w}");
        }
        for w in ["stopado", "stopados", "stopamos", "stopando", "estopado"] {
            assert_eq!(classify(w.as_bytes()), Stopped, "{w}");
        }
        for w in [
            "encerrada",
            "encerramos",
            "finalizando",
            "zeramos",
            "zerando",
            "liquidamos",
        ] {
            assert_eq!(classify(w.as_bytes()), Close, "{w}");
        }
        for w in ["cancelada", "cancelamos", "cancelando", "cancele"] {
            assert_eq!(classify(w.as_bytes()), Cancel, "{w}");
        }
        assert_eq!(classify(b"comprado"), DirectionHint(Long));
        assert_eq!(classify(b"compramos"), LONG);
        assert_eq!(classify(b"comprei"), Other, "a report, not a call");
        assert_eq!(classify(b"zero"), Other);
        assert_eq!(classify(b"liquidez"), Other);
        assert_eq!(classify(b"stops"), Other);
        assert_eq!(classify(b"tp2"), TargetLabel);
        assert_eq!(classify(b"alvo3"), TargetLabel);
    }
}
