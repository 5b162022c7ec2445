//! The mapping rules on rows written by hand.

use std::collections::HashMap;

use chrono::DateTime;
use domain::model::SignalKind;
use uuid::Uuid;

use super::channels::ChannelHow;
use super::*;

fn bounds() -> TimeBounds {
    TimeBounds::for_run(DateTime::from_timestamp(1_764_000_000, 0).unwrap())
}

fn channels() -> HashMap<String, ChannelResolution> {
    let telegram = vec![
        TelegramChannel {
            channel_id: Some("-1001000000001".into()),
            label: Some("TP Capital".into()),
        },
        TelegramChannel {
            channel_id: Some("-1001000000004".into()),
            label: Some("Dup".into()),
        },
        TelegramChannel {
            channel_id: Some("-1001000000005".into()),
            label: Some("dup".into()),
        },
    ];
    let values: Vec<String> = [
        "-1001000000001",
        " tp capital ",
        "Desconhecido",
        "Outro Canal",
        "Dup",
        "  ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    resolve_channels(&values, &telegram)
}

fn row() -> LegacySignal {
    LegacySignal {
        id: "6f1c1b1e-7a43-4c1e-9d55-0b8c2e6f3a10".into(),
        legacy_uuid: Some("6f1c1b1e-7a43-4c1e-9d55-0b8c2e6f3a10".into()),
        ts: DateTime::from_timestamp(1_759_857_959, 123_000_000),
        channel: Some("Desconhecido".into()),
        signal_type: Some("Swing Trade".into()),
        asset: Some(" beefw655 ".into()),
        prices: [
            Some("0.25".into()),
            Some("0.270".into()),
            Some("0.35".into()),
            None,
            Some("2".into()),
            Some("0.16".into()),
        ],
        raw_message: Some("COMPRA BEEFW655".into()),
        source: Some("forwarder".into()),
        ..Default::default()
    }
}

#[test]
fn channels_resolve_by_id_label_or_synthetic() {
    let c = channels();
    assert_eq!(c["-1001000000001"].how, ChannelHow::NumericId);
    assert_eq!(c["-1001000000001"].label.as_deref(), Some("TP Capital"));
    assert_eq!(c[" tp capital "].channel_id, -1001000000001);
    assert_eq!(c[" tp capital "].how, ChannelHow::Label);
    assert_eq!(c["Desconhecido"].how, ChannelHow::Unknown);
    assert_eq!(c["Desconhecido"].channel_id, UNKNOWN_CHANNEL_ID);
    assert_eq!(
        c["Desconhecido"].label.as_deref(),
        Some(UNKNOWN_CHANNEL_LABEL)
    );
    assert_eq!(c["Outro Canal"].how, ChannelHow::Synthetic);
    assert_eq!(c["Outro Canal"].label.as_deref(), Some("Outro Canal"));
    assert_eq!(c["Dup"].how, ChannelHow::AmbiguousLabel);
    assert!(!c.contains_key("  "));
}

#[test]
fn synthetic_ids_are_stable_negative_and_apart_from_telegram() {
    let a = synthetic_channel_id("Desconhecido");
    assert_eq!(a, synthetic_channel_id("  desconhecido "));
    assert_ne!(a, synthetic_channel_id("Outro"));
    assert!((-5_000_000_000_000_000_000..-4_000_000_000_000_000_000).contains(&a));
    let id = Uuid::parse_str("ffffffff-ffff-ffff-ffff-ffffffffffff").unwrap();
    assert_eq!(synthetic_message_id(id), i64::MIN);
    assert_eq!(synthetic_message_id(Uuid::nil()), -1);
    let v4 = Uuid::new_v4();
    assert_eq!(synthetic_message_id(v4), synthetic_message_id(v4));
}

#[test]
fn a_full_row_maps_with_exact_prices() {
    let m = map_signal(&row(), &channels(), &bounds()).unwrap();
    assert_eq!(m.asset, "BEEFW655");
    assert_eq!(m.kind, Some(SignalKind::SwingTrade));
    assert_eq!(m.entry_max.unwrap().to_string(), "0.27");
    assert_eq!(m.targets.len(), 1);
    assert_eq!(m.channel_id, UNKNOWN_CHANNEL_ID);
    assert_eq!(m.message_date.timestamp_subsec_millis(), 123);
    assert_eq!(m.created_at, m.message_date);
    assert!(m.warnings.is_empty());
}

#[test]
fn three_decimal_premiums_and_six_decimals_keep_every_digit() {
    let p = parse_price("buy_min", Some("0.255")).unwrap().unwrap();
    assert_eq!(p.to_string(), "0.255");
    let p = parse_price("stop", Some("999999999999.999999"))
        .unwrap()
        .unwrap();
    assert_eq!(p.to_string(), "999999999999.999999");
}

#[test]
fn prices_that_do_not_fit_are_skipped_with_a_reason() {
    let code = |s: &str| parse_price("stop", Some(s)).unwrap_err().code;
    assert_eq!(code("0.1234567"), "price_too_precise");
    assert_eq!(code("0"), "price_not_positive");
    assert_eq!(code("-1.5"), "price_not_positive");
    assert_eq!(code("1000000000000"), "price_too_large");
    assert_eq!(code("NaN"), "price_not_decimal");
    assert_eq!(code("1e5"), "price_not_decimal");
    assert_eq!(code("1,5"), "price_not_decimal");
    assert_eq!(code("1."), "price_not_decimal");
    assert_eq!(parse_price("stop", None).unwrap(), None);
}

#[test]
fn rows_the_domain_rejects_are_skipped() {
    let c = channels();
    let mut r = row();
    r.prices[5] = Some("0.30".into());
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "invalid_call"
    );
    let mut r = row();
    r.prices = Default::default();
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "invalid_call"
    );
    let mut r = row();
    r.asset = Some("ALVO1".into());
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "asset_not_ticker"
    );
    let mut r = row();
    r.channel = None;
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "channel_missing"
    );
    let mut r = row();
    r.ts = DateTime::from_timestamp(1_759_857, 0);
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "ts_out_of_range"
    );
    let mut r = row();
    r.id = "x42".into();
    r.legacy_uuid = None;
    assert_eq!(
        map_signal(&r, &c, &bounds()).unwrap_err().code,
        "id_unmappable"
    );
}

#[test]
fn null_prices_stay_null_and_unknown_kinds_are_reported() {
    let mut r = row();
    r.prices = [
        None,
        None,
        Some("0.35".into()),
        None,
        None,
        Some("0.16".into()),
    ];
    r.signal_type = Some("Estranho".into());
    r.raw_message = None;
    let m = map_signal(&r, &channels(), &bounds()).unwrap();
    assert_eq!(
        (m.entry_min, m.entry_max, m.target_final),
        (None, None, None)
    );
    assert_eq!(m.kind, None);
    assert_eq!(m.warnings.len(), 2);
    assert_eq!(m.raw_message, "");
}

#[test]
fn integers_follow_the_sql_pattern() {
    assert_eq!(parse_integer("-1001234567890"), Some(-1_001_234_567_890));
    assert_eq!(parse_integer("+5"), None);
    assert_eq!(parse_integer("1234567890123456789"), None);
    assert_eq!(parse_integer(""), None);
    assert_eq!(parse_integer("-"), None);
}

#[test]
fn messages_map_with_photos_and_defaults() {
    let row = LegacyMessage {
        channel_id: "-1001000000001".into(),
        message_id: "77".into(),
        message_date: DateTime::from_timestamp(1_759_857_959, 0),
        text: None,
        photos: Some("[\"a.jpg\"]".into()),
        received_at: None,
        key: Default::default(),
    };
    let m = map_message(&row, &bounds()).unwrap();
    assert_eq!(m.media_type, Some("photo"));
    assert_eq!(m.metadata, "{\"legacy_photos\": [\"a.jpg\"]}");
    assert_eq!(m.received_at, m.message_date);
    assert_eq!(m.text, "");
    let empty = LegacyMessage {
        photos: Some("[]".into()),
        ..row.clone()
    };
    assert_eq!(map_message(&empty, &bounds()).unwrap().media_type, None);
    let bad = LegacyMessage {
        message_id: "x1".into(),
        ..row
    };
    assert_eq!(
        map_message(&bad, &bounds()).unwrap_err().code,
        "message_id_not_integer"
    );
}

#[test]
fn the_dedicated_stacks_rows_map_options_b3sa3_and_skip_the_checkpoint() {
    let c = channels();
    let mut r = row();
    r.id = "42".into();
    r.legacy_uuid = Some("3d5f9e2a-1c2b-0a4e-9f8b-000000000042".into());
    r.asset = Some("B3SA3".into());
    r.signal_type = Some("Opções".into());
    r.prices = [
        Some("11.50".into()),
        Some("11.80".into()),
        Some("12.40".into()),
        None,
        None,
        Some("10.90".into()),
    ];
    let m = map_signal(&r, &c, &bounds()).unwrap();
    assert_eq!(m.asset, "B3SA3");
    assert_eq!(m.kind, None);
    assert!(
        m.warnings.iter().any(|w| w.contains("'Opções' = options")),
        "{:?}",
        m.warnings
    );
    assert!(is_options(" OPÇÕES ") && !is_options("Swing Trade"));
    assert!(kind_label("Opções").starts_with("none: options"));

    let mut cp = row();
    cp.asset = Some(CHECKPOINT_ASSET.into());
    cp.channel = Some("system".into());
    cp.signal_type = Some("historical_sync".into());
    assert_eq!(
        map_signal(&cp, &c, &bounds()).unwrap_err().code,
        "legacy_checkpoint"
    );
}
