use chrono::{TimeZone, Utc};
use domain::model::ChannelId;
use domain::ports::MessageClass;
use sea_orm::DbBackend;

use super::select_messages;

#[test]
fn only_present_filters_reach_the_sql() {
    let all = DbBackend::Postgres.build(&select_messages(&[], None, None, None));
    assert!(!all.sql.contains("WHERE"), "{}", all.sql);
    assert!(all.values.is_none_or(|v| v.0.is_empty()));
    let from = Utc.with_ymd_and_hms(2025, 10, 20, 0, 0, 0).unwrap();
    let some = DbBackend::Postgres.build(&select_messages(
        &[MessageClass::Signal, MessageClass::Rejected],
        Some(ChannelId(-100)),
        Some(from),
        None,
    ));
    eprintln!("{}", some.sql);
    assert!(
        some.sql.contains(r#""m"."outcome" = ANY($1)"#),
        "{}",
        some.sql
    );
    assert!(
        some.sql.contains(r#""m"."channel_id" = $2"#),
        "{}",
        some.sql
    );
    assert!(
        some.sql.contains(r#""m"."message_date" >= $3"#),
        "{}",
        some.sql
    );
    assert!(!some.sql.contains("<="), "{}", some.sql);
    assert_eq!(some.values.map(|v| v.0.len()), Some(3));
}
