//! Fuzzes the parser: any bytes, any message date. It must never panic, and every signal it
//! produces must keep the trade-call invariants.
#![no_main]

use domain::{Direction, ParseOutcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&day, rest)) = data.split_first() else { return };
    let date = chrono::NaiveDate::from_yo_opt(2025, u32::from(day) + 1).unwrap_or_default();
    let text = String::from_utf8_lossy(rest);
    if let ParseOutcome::Signal(call) = domain::parse(&text, date) {
        let first_target = call.targets.first().copied().or(call.target_final);
        let long = call.direction == Direction::Long;
        match call.entry {
            Some(entry) => {
                assert!(entry.min() <= entry.max());
                if let Some(t) = first_target {
                    assert!(if long { t > entry.max() } else { t < entry.min() });
                }
                let gain = call.warnings.iter().any(|w| w == domain::parser::STOP_GAIN_WARNING);
                if let (Some(s), false) = (call.stop, gain) {
                    assert!(if long { s < entry.min() } else { s > entry.max() });
                }
            }
            None => assert!(first_target.is_some() && call.stop.is_some()),
        }
    }
});
