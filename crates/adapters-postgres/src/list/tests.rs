//! Unit tests of the list's SQL and windows (no database).

use super::sql::*;
use super::*;
use domain::model::{SignalId, SignalKind, Ticker};

#[test]
fn search_terms_are_literal() {
    assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
}

fn plan<'a>(q: &'a SignalQuery, channels: Option<&'a [i64]>) -> Plan<'a> {
    Plan {
        q,
        channels,
        window: Window::default(),
        after_probe: None,
    }
}

#[test]
fn only_present_filters_reach_the_sql() {
    let bare_q = SignalQuery {
        limit: 50,
        ..SignalQuery::default()
    };
    let bare = list_statement(&plan(&bare_q, None), 51);
    assert_eq!(bare.values.len(), 1);
    assert!(!bare.text.contains("ILIKE"));
    let full_q = SignalQuery {
        limit: 50,
        cursor: Some(SignalCursor {
            message_date: Utc::now(),
            id: SignalId(7),
        }),
        channel: Some("-100123".into()),
        asset: Ticker::parse("PETR4"),
        kind: Some(SignalKind::DayTrade),
        status: Some("open".into()),
        search: Some("alvo".into()),
        from: Some(Utc::now()),
        to: Some(Utc::now()),
    };
    let full = list_statement(&plan(&full_q, Some(&[-100123])), 51);
    assert_eq!(full.values.len(), 10);
    assert!(full.text.contains("s.channel_id = $3\n"));
    assert!(
        full.text
            .ends_with("ORDER BY s.message_date DESC, s.id DESC\nLIMIT $10")
    );
    let many = list_statement(&plan(&full_q, Some(&[1, 2])), 51);
    assert!(many.text.contains("s.channel_id = ANY($3::bigint[])"));
}

#[test]
fn ascii_case_is_compared_alone_only_where_it_is_exact() {
    for term in ["PETR4", "alvo", "50%_a", "vale3 compra"] {
        assert!(ascii_case_is_exact(term), "{term}");
    }
    for term in ["ativo", "STOP KILL", "ação", "İ", "\u{212A}"] {
        assert!(!ascii_case_is_exact(term), "{term}");
    }
    let q = |search: &str| SignalQuery {
        limit: 50,
        search: Some(search.into()),
        ..SignalQuery::default()
    };
    let (petr, ativo) = (q("petr"), q("ativo"));
    assert!(
        list_statement(&plan(&petr, None), 51)
            .text
            .contains("s.raw_message COLLATE \"C\" ILIKE")
    );
    assert!(
        list_statement(&plan(&ativo, None), 51)
            .text
            .contains("(s.asset ILIKE $1 OR s.raw_message ILIKE $1)")
    );
    assert!(
        !bitmap_statement(&plan(&petr, None), 51)
            .text
            .contains("COLLATE"),
        "the trigram indexes answer only the column's own collation"
    );
}

#[test]
fn realias_touches_only_the_alias() {
    assert_eq!(
        realias("s.id, COALESCE(s.kind, c.kind), signals.s.x (s.a)"),
        "m.id, COALESCE(m.kind, c.kind), signals.s.x (m.a)"
    );
}

#[test]
fn the_probe_flags_selective_matches_inside_a_bounded_window() {
    let q = SignalQuery {
        limit: 50,
        search: Some("alvo".into()),
        ..SignalQuery::default()
    };
    let probe = probe_statement(&plan(&q, None), 51);
    assert!(probe.text.contains(
        "WHERE (s.asset COLLATE \"C\" ILIKE $1 OR s.raw_message COLLATE \"C\" ILIKE $1)\n  LIMIT $3)"
    ));
    assert!(probe.text.contains("LIMIT $2\n  ) s\n  WHERE ("));
    assert!(probe.text.contains("OFFSET $2 - 1 LIMIT 1)\nLIMIT $3"));
}

#[test]
fn windows_are_whole_blocks_from_the_upper_bound_down_to_from() {
    let now = Utc::now();
    let week = Duration::days(7);
    let block = week * BLOCK_CHUNKS as i32;
    let w = windows(&SignalQuery::default(), now);
    assert_eq!(w.len(), ROUNDS as usize + 1);
    assert_eq!(
        w[0].hi, None,
        "the first window is open above (rows dated after now)"
    );
    let start = chunk_start(now);
    assert!(start <= now && now - start < week);
    assert_eq!(start.timestamp() % (7 * 86_400), 0);
    assert_eq!(w[0].lo, Some(start - week), "this chunk and the one before");
    assert_eq!(w[1].lo, Some(start - week - block));
    assert_eq!(w[2].lo, Some(start - week - block * 3));
    for pair in w.windows(2) {
        assert_eq!(pair[1].hi, pair[0].lo, "no gap, no overlap");
    }
    assert_eq!(
        w.last().map(|l| l.lo),
        Some(None),
        "the last round reaches back without end"
    );

    let to = now - Duration::days(100);
    let q = SignalQuery {
        to: Some(to),
        cursor: Some(SignalCursor {
            message_date: now - Duration::days(50),
            id: SignalId(1),
        }),
        from: Some(to - Duration::days(10)),
        ..SignalQuery::default()
    };
    let first = block_start(to);
    assert_eq!(first.timestamp() % block.num_seconds(), 0);
    assert!(first <= to && to - first < block);
    let above = Some(first + block);
    let floor = block_start(to - Duration::days(10));
    let expected = if floor >= first {
        vec![Window {
            lo: Some(floor),
            hi: above,
        }]
    } else {
        vec![
            Window {
                lo: Some(first),
                hi: above,
            },
            Window {
                lo: Some(floor),
                hi: Some(first),
            },
        ]
    };
    assert_eq!(
        windows(&q, now),
        expected,
        "from `to` (below the cursor) down to `from`, the first window `to`'s block"
    );
    let same_block = SignalQuery {
        to: Some(first + Duration::hours(1)),
        ..SignalQuery::default()
    };
    assert_eq!(
        windows(&same_block, now)[0],
        windows(
            &SignalQuery {
                to: Some(first + block - Duration::hours(1)),
                ..SignalQuery::default()
            },
            now
        )[0],
        "every bound in a block shares its statement"
    );
    let later = SignalQuery {
        to: Some(now + Duration::days(30)),
        ..SignalQuery::default()
    };
    assert_eq!(
        windows(&later, now)[0].hi,
        None,
        "a `to` after now: open above, as without one"
    );
    let literal = literal(DateTime::from_timestamp(0, 0).expect("epoch"));
    assert_eq!(literal, "'1970-01-01T00:00:00.000000Z'::timestamptz");
}

#[test]
fn a_dense_window_splits_at_a_chunk_boundary_down_to_one_chunk() {
    let week = Duration::days(7);
    let lo = chunk_start(Utc::now()) - week * 15;
    let eight = Window {
        lo: Some(lo),
        hi: Some(lo + week * 8),
    };
    let (newer, older) = halves(eight).expect("eight chunks split");
    assert_eq!(newer.lo, Some(lo + week * 4));
    assert_eq!(
        (newer.hi, older.lo, older.hi),
        (eight.hi, eight.lo, newer.lo)
    );
    let three = Window {
        lo: Some(lo),
        hi: Some(lo + week * 3),
    };
    let (newer, older) = halves(three).expect("three chunks split");
    assert_eq!((older.hi, newer.lo), (Some(lo + week), Some(lo + week)));
    for single in [
        Window {
            lo: Some(lo),
            hi: Some(lo + week),
        },
        Window {
            lo: Some(lo),
            hi: None,
        },
        Window {
            lo: None,
            hi: Some(lo),
        },
    ] {
        assert_eq!(halves(single), None, "{single:?} is read as it is");
    }
}

#[test]
fn a_search_reads_the_open_week_below_its_partial_indexes_apart() {
    let now = Utc::now();
    let split = crate::search_indexes::indexed_before(now);
    assert!(now - split >= Duration::hours(1) && now - split < Duration::hours(2));
    let search = SignalQuery {
        search: Some("petr".into()),
        ..SignalQuery::default()
    };
    let plain = windows(&SignalQuery::default(), now);
    let w = windows(&search, now);
    assert_eq!(w.len(), plain.len() + 1);
    assert_eq!(
        w[0],
        Window {
            lo: Some(split),
            hi: None
        },
        "the last hour or two"
    );
    assert_eq!(
        w[1],
        Window {
            lo: plain[0].lo,
            hi: Some(split)
        }
    );
    assert_eq!(&w[2..], &plain[1..]);
    let below = SignalQuery {
        cursor: Some(SignalCursor {
            message_date: split - Duration::minutes(5),
            id: SignalId(9),
        }),
        ..search
    };
    let w = windows(&below, now);
    assert_eq!(
        w[0].hi,
        Some(split),
        "a page below the split reads no rows above it"
    );
    assert_eq!(
        w[0].lo,
        Some(block_start(split - Duration::minutes(5))),
        "from the block of the cursor"
    );
}

#[test]
fn no_window_bound_falls_before_year_one() {
    let at = |y, m, d| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .map(|d| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
    };
    let q = SignalQuery {
        from: at(1, 1, 3).flatten(),
        to: at(1, 2, 1).flatten(),
        search: Some("bova".into()),
        ..SignalQuery::default()
    };
    let w = windows(&q, Utc::now());
    assert!(!w.is_empty());
    for bound in w.iter().flat_map(|w| [w.lo, w.hi]).flatten() {
        assert!(bound.year() >= 1, "{w:?}");
        let _ = literal(bound);
    }
    assert_eq!(
        w.last().map(|l| l.lo),
        Some(None),
        "open below: `from` bounds the rows"
    );
}
