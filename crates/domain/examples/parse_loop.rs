//! Parses the canonical message in a loop, for profilers (`valgrind --tool=callgrind`).
fn main() {
    let text = "🟢Swing Trade \n \nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\n\nStop: 0,70\n\nA ordem ficará posicionada no Book até dia 28/10";
    let date = chrono::NaiveDate::from_ymd_opt(2025, 10, 20).expect("date");
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut signals = 0;
    for _ in 0..n {
        if matches!(
            domain::parse(std::hint::black_box(text), date),
            domain::ParseOutcome::Signal(_)
        ) {
            signals += 1;
        }
    }
    println!("{signals}");
}
