//! The legacy routes on the running stack: `DELETE /signals` with `{ingestedAt}` finds the signal
//! by its reception time in PostgreSQL and soft-deletes that one only; `/telegram-channels` lists
//! the channel with the legacy field names.

use serde_json::json;
use test_support::api_client::{BOVAW32, PETR4, stack, unique_channel};

#[tokio::test]
async fn delete_signals_by_ingested_at_removes_that_signal_from_the_list() {
    let Some(s) = stack() else { return };
    let channel = unique_channel();
    let now = chrono::Utc::now();
    for (id, text) in [(1, BOVAW32), (2, PETR4)] {
        let at = (now - chrono::Duration::minutes(10 - id)).to_rfc3339();
        s.ingest(channel, id, &at, text).await;
    }
    let rows = s.signals_of(channel, "").await;
    assert_eq!(rows.len(), 2);
    let target = &rows[0];
    let at = target["ingested_at"].as_str().expect("ingested_at");

    let r = s
        .send(
            s.http
                .delete(s.url("/signals"))
                .header("X-API-Key", &s.key)
                .json(&json!({ "ingestedAt": at })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], target["id"]);
    let left = s.signals_of(channel, "").await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0]["id"], target["id"]);

    let channels = s.get("/telegram-channels").await;
    assert_eq!(channels.status, 200, "{}", channels.body);
    let ours = channels.json()["data"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|c| c["channel_id"].as_str().and_then(|id| id.parse().ok()) == Some(channel))
                .cloned()
        })
        .expect("our channel");
    assert_eq!(ours["id"], channel.to_string());
    assert_eq!(ours["signal_count"], 1);
}
