//! Trade-call messages the tests ingest, once for every crate: the specification's canonical
//! call and a few others with a known reading. Parser tests keep their own literals, where the
//! text is the point of the test.

/// The canonical call of the specification (BOVAW32, a swing trade with a range, two targets, a
/// final target, a stop and a validity date).
pub const BOVAW32: &str = "🟢Swing Trade \n \nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\n\nStop: 0,70\n\nA ordem ficará posicionada no Book até dia 28/10";

/// News about the latest open BOVAW32 signal: its first target was hit.
pub const BOVAW32_TARGET_1_HIT: &str = "✅ Alvo 1 atingido em BOVAW32! Parabéns a quem entrou.";

/// A day trade on another asset (PETR4).
pub const PETR4: &str = "Day Trade 🔵\n\nPapel: PETR4\nEntrada: 38,50\nTP: 39,00\nSL: 38,00";

/// A call that names no kind (VALE3): its channel's default kind decides.
pub const VALE3: &str = "Ativo: VALE3\nCompra: 60,00\nAlvo 1: 62,00\nStop: 58,00";

/// Not a trade call.
pub const GREETING: &str = "Bom dia pessoal! Hoje vamos ter um dia interessante.";

/// A call that cannot be trusted: the target is below the entry of a long.
pub const TARGET_BELOW_ENTRY: &str =
    "Ativo: ELETW450\nCompra: 0,90 a 0,95\nAlvo 1: 0,80\nStop: 0,70";
