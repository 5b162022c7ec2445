//! The words the parser knows, classified in one `match` on the folded word: every label,
//! hint and update word of SPEC §2.4 lives here and nowhere else.

use crate::model::{Direction, SignalKind};

/// What a word means to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// Ativo, Papel, Ticker, Ação, Opção, Asset, Symbol, Código.
    AssetLabel,
    /// Compra / Venda / Entrada …, with the direction the label implies.
    EntryLabel(Option<Direction>),
    /// "Preço" (an entry label when followed by "de entrada" / "entrada").
    Price,
    /// Vendido, Comprado, Short, Long: a direction without a price.
    DirectionHint(Direction),
    /// Alvo, TP, Target, Meta, Take (Profit), Objetivo, Gain.
    TargetLabel,
    /// Stop, SL, Stoploss.
    StopLabel,
    /// Stopado, stopou: the stop was hit.
    Stopped,
    /// A trading horizon (`Day` only with a following `Trade`).
    Kind(SignalKind),
    /// "Day", a kind when followed by "Trade".
    Day,
    /// Até, validade, válido: may introduce a validity date.
    Validity,
    /// Cancelada, cancelamos …
    Cancel,
    /// Encerrada, finalizada, zerada, fechada …
    Close,
    /// Atingido, bateu, hit …
    Reached,
    /// Operação, posição, sinal, ordem, trade, entrada: words that make an update credible.
    Context,
    /// Anything else.
    Other,
}

/// Classifies a folded word (lower-case ASCII, accents removed).
pub(crate) fn classify(key: &[u8]) -> Term {
    use Term::*;
    match key {
        b"ativo" | b"papel" | b"ticker" | b"acao" | b"opcao" | b"asset" | b"symbol" | b"codigo" => {
            AssetLabel
        }
        b"compra" | b"comprar" | b"buy" => EntryLabel(Some(Direction::Long)),
        b"venda" | b"vender" | b"sell" => EntryLabel(Some(Direction::Short)),
        b"entrada" | b"entry" => EntryLabel(None),
        b"preco" => Price,
        b"vendido" | b"vendida" | b"short" => DirectionHint(Direction::Short),
        b"comprado" | b"comprada" | b"long" => DirectionHint(Direction::Long),
        b"stop" | b"sl" | b"stoploss" => StopLabel,
        b"stopado" | b"stopada" | b"stopou" | b"stopped" | b"estopado" => Stopped,
        b"swing" | b"swingtrade" => Kind(SignalKind::SwingTrade),
        b"daytrade" => Kind(SignalKind::DayTrade),
        b"day" => Day,
        b"scalping" | b"scalp" | b"scalper" => Kind(SignalKind::Scalping),
        b"position" => Kind(SignalKind::Position),
        b"ate" | b"validade" | b"valido" | b"valida" => Validity,
        b"zerada" | b"zerado" | b"zeramos" | b"zerar" | b"fechada" | b"fechado" | b"fechamos"
        | b"closed" | b"liquidada" | b"liquidado" => Close,
        b"atingido" | b"atingida" | b"atingiu" | b"atingimos" | b"batido" | b"batida"
        | b"bateu" | b"alcancado" | b"alcancada" | b"alcancou" | b"hit" | b"realizado"
        | b"realizada" => Reached,
        b"operacao" | b"posicao" | b"sinal" | b"ordem" | b"trade" => Context,
        _ if key.starts_with(b"cancel") => Cancel,
        _ if key.starts_with(b"encerr") || key.starts_with(b"finaliz") => Close,
        _ if is_target_label(trim_digits(key)) => TargetLabel,
        _ => Other,
    }
}

/// `tp1` → `tp`.
pub(crate) fn trim_digits(key: &[u8]) -> &[u8] {
    let digits = key.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    &key[..key.len() - digits]
}

/// Target labels, also after an ordinal ("2º alvo").
pub(crate) fn is_target_label(letters: &[u8]) -> bool {
    matches!(
        letters,
        b"alvo"
            | b"alvos"
            | b"tp"
            | b"target"
            | b"targets"
            | b"meta"
            | b"metas"
            | b"objetivo"
            | b"take"
            | b"gain"
    )
}

/// Words between a label and its value ("Compra **de**: 12,50", "Entrada **entre** …").
pub(crate) fn is_filler(key: &[u8]) -> bool {
    matches!(
        key,
        b"de"
            | b"da"
            | b"do"
            | b"em"
            | b"entre"
            | b"min"
            | b"minimo"
            | b"na"
            | b"no"
            | b"zona"
            | b"regiao"
            | b"a"
            | b"ate"
            | b"preco"
            | b"entrada"
    )
}

/// Words joining the two ends of a range ("1,04 **a** 1,06", "min 1,00 **max** 1,10").
pub(crate) fn is_range_connector(key: &[u8]) -> bool {
    matches!(key, b"a" | b"ate" | b"e" | b"max" | b"maximo" | b"to")
}

/// Words after "Alvo" that make it the final target.
pub(crate) fn is_final_marker(key: &[u8]) -> bool {
    matches!(key, b"final" | b"geral" | b"maximo" | b"max" | b"ultimo")
}

/// Words after "Stop" that report it was hit.
pub(crate) fn is_stop_triggered(key: &[u8]) -> bool {
    matches!(
        key,
        b"acionado"
            | b"acionada"
            | b"atingido"
            | b"atingida"
            | b"executado"
            | b"ativado"
            | b"hit"
            | b"batido"
    )
}
