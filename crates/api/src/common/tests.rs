//! Query parameters of every resource, parsed and validated as the handlers do.

use domain::model::{ChannelId, SignalKind};
use domain::ports::MessageClass;
use service_kit::Problem;

use super::instant::{DEFAULT_DESK_ZONE, parse_instant};
use super::params::DEFAULT_LIMIT;
use crate::cache::signal_cache_key;
use crate::logs::params::{Level, LogParams};
use crate::messages::params::MessageParams;
use crate::signals::params::{SignalFilter, SignalParams};

fn signals(q: &str) -> Result<SignalFilter, Problem> {
    service_kit::extract::parse_query::<SignalParams>(q)?.validate(DEFAULT_DESK_ZONE)
}

fn field_of(r: Result<SignalFilter, Problem>) -> Option<String> {
    r.err().and_then(|p| p.field.clone())
}

#[test]
fn the_dashboard_query_parses() {
    let f = signals("limit=50&channel=TP%20Capital&type=Swing%20Trade&search=bova&from=2025-10-01&to=2025-10-31")
        .expect("valid");
    let q = f.query;
    assert_eq!(q.limit, 50);
    assert_eq!(q.kind, Some(SignalKind::SwingTrade));
    assert_eq!(q.channel.as_deref(), Some("TP Capital"));
    assert_eq!(
        q.from.map(|t| t.to_rfc3339()),
        Some("2025-10-01T03:00:00+00:00".into()),
        "a date is a São Paulo day"
    );
    assert_eq!(
        q.to.map(|t| t.to_rfc3339()),
        Some("2025-11-01T02:59:59.999999+00:00".into()),
        "a date as `to` covers the whole São Paulo day"
    );
    assert_eq!(
        signals("type=swing_trade")
            .expect("machine name")
            .query
            .kind,
        Some(SignalKind::SwingTrade)
    );
    assert_eq!(signals("").expect("defaults").query.limit, DEFAULT_LIMIT);
}

#[test]
fn instants_in_every_accepted_form() {
    let ms = parse_instant("from", "1760000000000", false, DEFAULT_DESK_ZONE).expect("epoch ms");
    assert_eq!(ms.timestamp_millis(), 1_760_000_000_000);
    let dt = parse_instant(
        "from",
        "2025-10-01T10:00:00-03:00",
        false,
        DEFAULT_DESK_ZONE,
    )
    .expect("offset");
    assert_eq!(dt.to_rfc3339(), "2025-10-01T13:00:00+00:00");
    assert!(
        parse_instant("from", "2025-10-01T13:00:00", false, DEFAULT_DESK_ZONE).is_err(),
        "a date-time needs its offset (RFC 3339)"
    );
    assert!(parse_instant("from", "2025-1-1", false, DEFAULT_DESK_ZONE).is_err());
    assert!(
        parse_instant(
            "from",
            "2025-10-01t13:00:00.123456789z",
            false,
            DEFAULT_DESK_ZONE
        )
        .is_ok()
    );
}

#[test]
fn bad_values_name_their_parameter() {
    for (q, field) in [
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("from=garbage", "from"),
        ("to=2025-13-45", "to"),
        ("from=99999999999999999999", "from"),
        ("cursor=garbage", "cursor"),
        ("type=Long%20Trade", "type"),
        ("status=sleeping", "status"),
        ("asset=PETR4%3B%20DROP", "asset"),
    ] {
        assert_eq!(field_of(signals(q)).as_deref(), Some(field), "{q}");
    }
    assert_eq!(
        field_of(signals("outcome=x&status=OPEN")).as_deref(),
        Some("status")
    );
    assert_eq!(
        field_of(signals("type=swing%20trade")).as_deref(),
        Some("type"),
        "exact names"
    );
    assert_eq!(field_of(signals("search=a%00b")).as_deref(), Some("search"));
    let inverted = signals("from=2025-10-02&to=2025-10-01").expect("an empty window");
    assert!(inverted.matches_nothing);
    let blank = signals("limit=&from=&to=&type=&channel=&cursor=").expect("blank = not given");
    assert_eq!(blank.query.limit, DEFAULT_LIMIT);
    let long = format!("search={}", "a".repeat(201));
    assert_eq!(field_of(signals(&long)).as_deref(), Some("search"));
}

#[test]
fn search_needs_three_characters() {
    for short in ["search=zz", "search=%20zz%20", "search=%C3%A9"] {
        assert_eq!(
            field_of(signals(short)).as_deref(),
            Some("search"),
            "{short}"
        );
    }
    let three = signals("search=%20abc%20").expect("three characters");
    assert_eq!(three.query.search.as_deref(), Some("abc"));
    assert_eq!(signals("search=%20%20").expect("blank").query.search, None);
    assert_eq!(
        signals("search=%1C%1F").expect("separators").query.search,
        None
    );
    assert_eq!(
        field_of(signals("search=%1Cab%1C")).as_deref(),
        Some("search")
    );
}

#[test]
fn label_shaped_assets_match_nothing_instead_of_failing() {
    let f = signals("asset=ALVO1").expect("ticker-shaped");
    assert!(f.matches_nothing);
    assert_eq!(
        signals("asset=petr4")
            .expect("lower case")
            .query
            .asset
            .map(|a| a.to_string()),
        Some("PETR4".into())
    );
}

#[test]
fn equal_queries_share_a_cache_key_and_different_ones_do_not() {
    let a = signals("limit=50&type=Swing%20Trade&channel=TP")
        .expect("a")
        .query;
    let b = signals("channel=tp&type=swing_trade&limit=50&_=123")
        .expect("b")
        .query;
    let c = signals("limit=50&type=swing_trade&search=tpc")
        .expect("c")
        .query;
    assert_eq!(signal_cache_key("s", &a), signal_cache_key("s", &b));
    assert_ne!(signal_cache_key("s", &a), signal_cache_key("s", &c));
}

#[test]
fn messages_and_logs_parameters() {
    let q = service_kit::extract::parse_query::<MessageParams>("channelId=-100&outcome=rejected")
        .expect("parse")
        .validate(DEFAULT_DESK_ZONE)
        .expect("valid");
    assert_eq!(q.channel, Some(ChannelId(-100)));
    assert_eq!(q.outcomes, vec![MessageClass::Rejected]);
    let both = service_kit::extract::parse_query::<MessageParams>("channel=-1&channelId=null")
        .expect("parse")
        .validate(DEFAULT_DESK_ZONE)
        .expect_err("every given value is checked");
    assert_eq!(both.field.as_deref(), Some("channelId"));
    let bad = service_kit::extract::parse_query::<MessageParams>("channel=abc")
        .expect("parse")
        .validate(DEFAULT_DESK_ZONE)
        .expect_err("not an id");
    assert_eq!(bad.field.as_deref(), Some("channel"));
    let (limit, level) = service_kit::extract::parse_query::<LogParams>("level=warning&limit=5")
        .expect("parse")
        .validate()
        .expect("valid");
    assert_eq!((limit, level), (5, Level::Warn));
}

#[test]
fn date_only_bounds_are_desk_days_across_midnight_utc() {
    use chrono::{DateTime, NaiveDate};

    use super::instant::{parse_range, start_of_day};
    // 21:30 in São Paulo on the last day of the range is 00:30 UTC the next day.
    let late = DateTime::parse_from_rfc3339("2025-10-31T21:30:00-03:00").expect("time");
    let (from, to) =
        parse_range(Some("2025-10-31"), Some("2025-10-31"), DEFAULT_DESK_ZONE).expect("range");
    let (from, to) = (from.expect("from"), to.expect("to"));
    assert!(from <= late && late <= to, "{from} {late} {to}");
    let (_, utc_to) = parse_range(None, Some("2025-10-31"), chrono_tz::UTC).expect("utc");
    assert!(utc_to.expect("to") < late, "UTC days would miss it");
    // 01:00 in São Paulo on the first day is 04:00 UTC; 23:00 the day before is not included.
    let early = DateTime::parse_from_rfc3339("2025-10-31T01:00:00-03:00").expect("time");
    let before = DateTime::parse_from_rfc3339("2025-10-30T23:00:00-03:00").expect("time");
    assert!(from <= early && before < from);
    // The dashboard's month: 23:30 on 31 October in São Paulo is in, 23:00 on 30 September out.
    let (from, to) =
        parse_range(Some("2025-10-01"), Some("2025-10-31"), DEFAULT_DESK_ZONE).expect("month");
    let (from, to) = (from.expect("from"), to.expect("to"));
    let utc = |t: &str| DateTime::parse_from_rfc3339(t).expect("time");
    assert!(utc("2025-11-01T02:30:00Z") <= to, "{to}");
    assert!(utc("2025-11-01T03:00:00Z") > to, "{to}");
    assert!(utc("2025-10-01T02:00:00Z") < from, "{from}");
    assert!(utc("2025-10-01T03:00:00Z") >= from, "{from}");
    // A date-time with an offset is taken as given, whatever the zone.
    let (given, _) =
        parse_range(Some("2025-10-31T00:00:00Z"), None, DEFAULT_DESK_ZONE).expect("given");
    assert_eq!(
        given.map(|t| t.to_rfc3339()),
        Some("2025-10-31T00:00:00+00:00".into())
    );
    // A configured zone is used.
    let (tokyo, _) = parse_range(Some("2025-10-31"), None, chrono_tz::Asia::Tokyo).expect("tokyo");
    assert_eq!(
        tokyo.map(|t| t.to_rfc3339()),
        Some("2025-10-30T15:00:00+00:00".into())
    );
    // Before 2019 São Paulo skipped midnight on the first day of daylight saving time.
    let skipped = NaiveDate::from_ymd_opt(2018, 11, 4).expect("date");
    assert_eq!(
        start_of_day(skipped, DEFAULT_DESK_ZONE).map(|t| t.to_rfc3339()),
        Some("2018-11-04T03:00:00+00:00".into()),
        "01:00 local (-02:00) is the day's first instant"
    );
}

#[test]
fn times_are_written_as_the_legacy_service_wrote_them() {
    #[derive(serde::Serialize)]
    struct At {
        #[serde(serialize_with = "super::dto::iso")]
        ms: chrono::DateTime<chrono::Utc>,
        #[serde(serialize_with = "super::dto::iso_micros")]
        us: chrono::DateTime<chrono::Utc>,
    }
    let cases = [
        (
            1_760_965_500_000_000,
            "2025-10-20T13:05:00.000Z",
            "2025-10-20T13:05:00.000000Z",
        ),
        (
            1_760_965_500_123_456,
            "2025-10-20T13:05:00.123Z",
            "2025-10-20T13:05:00.123456Z",
        ),
        (
            -1,
            "1969-12-31T23:59:59.999Z",
            "1969-12-31T23:59:59.999999Z",
        ),
    ];
    for (micros, ms, us) in cases {
        let t = chrono::DateTime::from_timestamp_micros(micros).expect("time");
        let json = serde_json::to_value(At { ms: t, us: t }).expect("json");
        assert_eq!(json, serde_json::json!({"ms": ms, "us": us}), "{micros}");
    }
}

proptest::proptest! {
    #[test]
    fn times_are_written_as_chrono_writes_them(
        secs in -80_000_000_000i64..330_000_000_000i64,
        nanos in 0u32..1_000_000_000,
    ) {
        use chrono::SecondsFormat;
        let t = chrono::DateTime::from_timestamp(secs, nanos).expect("time");
        for digits in [SecondsFormat::Millis, SecondsFormat::Micros] {
            let mut buf = [0u8; 27];
            let expected = t.to_rfc3339_opts(digits, true);
            match super::dto::write_time(&t, digits, &mut buf) {
                Some(written) => proptest::prop_assert_eq!(written, expected.as_str()),
                None => proptest::prop_assert!(
                    !(0..=9999).contains(&chrono::Datelike::year(&t)),
                    "only years outside 0-9999 are left to chrono: {}", expected
                ),
            }
        }
    }
}
