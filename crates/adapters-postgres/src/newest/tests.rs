use chrono::{TimeZone, Utc};
use sea_orm::DbBackend;

use super::{Group, Scope, literal, newest_probe, probes};

#[test]
fn probes_keep_their_literal_hour_bounds() {
    let hour = Utc.with_ymd_and_hms(2025, 10, 20, 13, 0, 0).unwrap();
    let scope = Scope {
        channel: Some(-7),
        asset: None,
        from: Some(hour),
    };
    let probe = newest_probe(
        scope
            .condition(None, &literal(hour))
            .add(Group::Asset("PETR4".into()).condition()),
    );
    let stmt = DbBackend::Postgres.build(&probe);
    eprintln!("{}", stmt.sql);
    assert!(
        stmt.sql
            .contains(r#""s"."message_date" < ('2025-10-20T13:00:00.000000Z'::timestamptz)"#),
        "{}",
        stmt.sql
    );
    assert!(
        stmt.sql.contains("pg_catalog.date_trunc('hour', $2)"),
        "{}",
        stmt.sql
    );
    assert_eq!(stmt.values.map(|v| v.0.len()), Some(3));
}

#[test]
fn one_branch_per_hour_and_kind_of_group() {
    let hour = Utc.with_ymd_and_hms(2025, 10, 20, 13, 0, 0).unwrap();
    let groups = [
        (Group::Channel(1), hour),
        (Group::Channel(2), hour),
        (Group::Asset("VALE3".into()), hour),
    ];
    let union = probes(&groups, &Scope::default()).unwrap();
    let stmt = DbBackend::Postgres.build(&union);
    eprintln!("{}", stmt.sql);
    assert_eq!(stmt.sql.matches("UNION ALL").count(), 1, "{}", stmt.sql);
    assert!(
        stmt.sql
            .contains(r#""s"."message_date" >= ('2025-10-20T13:00:00.000000Z'::timestamptz)"#),
        "{}",
        stmt.sql
    );
    assert!(
        stmt.sql
            .contains(r#""s"."message_date" < ('2025-10-20T14:00:00.000000Z'::timestamptz)"#),
        "{}",
        stmt.sql
    );
    assert_eq!(stmt.values.map(|v| v.0.len()), Some(2));
    assert!(probes(&[], &Scope::default()).is_none());
}
