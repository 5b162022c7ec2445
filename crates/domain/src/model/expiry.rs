//! When an open signal expires: its order stays in the book until the end of its `valid_until`
//! day in B3 time (America/Sao_Paulo, UTC−3 all year since Brazil dropped daylight saving in
//! 2019), so it is expired from the next B3 day on. The maintenance run applies this policy.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};

use super::SignalStatus;

/// B3's offset from UTC, in seconds.
pub const B3_UTC_OFFSET_SECS: i32 = -3 * 3600;

/// The B3 calendar day at `now`: signals valid until an earlier day have expired.
pub fn b3_today(now: DateTime<Utc>) -> NaiveDate {
    let b3 = FixedOffset::east_opt(B3_UTC_OFFSET_SECS).unwrap_or_else(|| Utc.fix());
    now.with_timezone(&b3).date_naive()
}

/// Whether a signal in `status`, valid until `valid_until`, is expired at `now`: only an `open`
/// signal expires (one whose first target was hit is running, not waiting in the book).
pub fn is_expired(
    status: SignalStatus,
    valid_until: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> bool {
    status == SignalStatus::Open && valid_until.is_some_and(|d| d < b3_today(now))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn a_signal_lives_until_the_end_of_its_day_in_sao_paulo() {
        let day = NaiveDate::from_ymd_opt(2025, 10, 28);
        // 23:59 in São Paulo is 02:59 UTC the next day: still valid.
        assert!(!is_expired(
            SignalStatus::Open,
            day,
            at(2025, 10, 29, 2, 59)
        ));
        // Midnight in São Paulo (03:00 UTC): expired.
        assert!(is_expired(SignalStatus::Open, day, at(2025, 10, 29, 3, 0)));
    }

    #[test]
    fn only_open_signals_with_a_date_expire() {
        let now = at(2025, 11, 5, 12, 0);
        let past = NaiveDate::from_ymd_opt(2025, 10, 1);
        assert!(!is_expired(SignalStatus::Open, None, now));
        assert!(!is_expired(
            SignalStatus::TargetHit { index: Some(1) },
            past,
            now
        ));
        assert!(!is_expired(SignalStatus::Stopped, past, now));
        assert!(is_expired(SignalStatus::Open, past, now));
    }
}
