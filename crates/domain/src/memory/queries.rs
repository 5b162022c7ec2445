//! [`SignalQueries`] over the in-memory store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, row_of};
use crate::model::SignalId;
use crate::ports::{
    SignalCursor, SignalDetail, SignalPage, SignalQueries, SignalQuery, SignalRow, StoreError,
};

#[async_trait]
impl SignalQueries for MemoryStore {
    async fn list_signals(&self, q: &SignalQuery) -> Result<SignalPage, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<SignalRow> = state
            .signals
            .values()
            .filter(|s| !s.deleted)
            .map(|s| row_of(&state, s))
            .filter(|r| matches_query(r, q))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.signal.message_date, r.signal.id)));
        let limit = q.limit.clamp(1, 1000) as usize;
        let next_cursor = (rows.len() > limit).then(|| {
            let last = &rows[limit - 1].signal;
            SignalCursor {
                message_date: last.message_date,
                id: last.id,
            }
        });
        rows.truncate(limit);
        Ok(SignalPage { rows, next_cursor })
    }

    async fn signal_detail(&self, id: SignalId) -> Result<SignalDetail, StoreError> {
        self.check()?;
        let state = self.lock();
        let s = state
            .signals
            .get(&id)
            .filter(|s| !s.deleted)
            .ok_or(StoreError::NotFound)?;
        Ok(SignalDetail {
            row: row_of(&state, s),
            revisions: state.revisions.get(&id).cloned().unwrap_or_default(),
            status_history: state.history.get(&id).cloned().unwrap_or_default(),
        })
    }

    async fn soft_delete(&self, id: SignalId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.check()?;
        let mut state = self.lock();
        let s = state
            .signals
            .get_mut(&id)
            .filter(|s| !s.deleted)
            .ok_or(StoreError::NotFound)?;
        s.deleted = true;
        s.updated_at = at;
        state.version += 1;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

fn matches_query(r: &SignalRow, q: &SignalQuery) -> bool {
    let s = &r.signal;
    q.cursor
        .is_none_or(|c| (s.message_date, s.id) < (c.message_date, c.id))
        && q.channel.as_deref().is_none_or(|c| {
            c == s.channel_id.to_string()
                || r.channel_label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(c))
        })
        && q.asset.as_ref().is_none_or(|a| a == &s.call.asset)
        && q.kind.is_none_or(|k| k == r.kind)
        && q.status.as_deref().is_none_or(|st| st == s.status.as_str())
        && q.search.as_deref().is_none_or(|t| {
            let t = t.to_lowercase();
            s.call.asset.as_str().to_lowercase().contains(&t)
                || s.raw_message.to_lowercase().contains(&t)
        })
        && q.from.is_none_or(|f| s.message_date >= f)
        && q.to.is_none_or(|t| s.message_date <= t)
}
