//! [`MessageArchive`] over the in-memory store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ArchivedDelivery, MemoryStore, in_window};
use crate::ports::{
    ArchivedMessage, MessageArchive, MessageClass, MessageCursor, MessagePage, MessageQuery,
    Reclassification, ReparseSelection, StoreError,
};

impl ArchivedDelivery {
    fn to_archived(&self) -> ArchivedMessage {
        ArchivedMessage {
            id: self.id,
            message: self.message.clone(),
            outcome: MessageClass::from_name(&self.outcome).unwrap_or(MessageClass::Ignored),
            reason: self.reason.clone(),
            parser_version: self.parser_version.clone(),
            received_at: self.received_at,
            deleted_at: self.deleted_at,
        }
    }

    fn key(&self) -> (DateTime<Utc>, i64) {
        (self.message.date, self.id)
    }
}

#[async_trait]
impl MessageArchive for MemoryStore {
    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&ArchivedDelivery> = state
            .archive
            .iter()
            .filter(|a| {
                q.cursor.is_none_or(|c| a.key() < (c.message_date, c.id))
                    && (q.outcomes.is_empty() || q.outcomes.iter().any(|o| o.as_str() == a.outcome))
                    && q.channel.is_none_or(|c| c == a.channel_id)
                    && in_window(a.message.date, q.from, q.to)
            })
            .collect();
        rows.sort_by_key(|a| std::cmp::Reverse(a.key()));
        let limit = q.limit.clamp(1, 1000) as usize;
        let next_cursor = (rows.len() > limit).then(|| {
            let (message_date, id) = rows[limit - 1].key();
            MessageCursor { message_date, id }
        });
        rows.truncate(limit);
        Ok(MessagePage {
            rows: rows
                .into_iter()
                .map(ArchivedDelivery::to_archived)
                .collect(),
            next_cursor,
        })
    }

    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&ArchivedDelivery> = state
            .archive
            .iter()
            .filter(|a| {
                after.is_none_or(|c| a.key() > (c.message_date, c.id))
                    && (selection.outcomes.is_empty()
                        || selection.outcomes.iter().any(|o| o.as_str() == a.outcome))
                    && selection.channel.is_none_or(|c| c == a.channel_id)
                    && in_window(a.message.date, selection.from, selection.to)
            })
            .collect();
        rows.sort_by_key(|a| a.key());
        rows.truncate(limit as usize);
        Ok(rows
            .into_iter()
            .map(ArchivedDelivery::to_archived)
            .collect())
    }

    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError> {
        self.check()?;
        let mut state = self.lock();
        let mut n = 0;
        for change in changes {
            if let Some(a) = state.archive.iter_mut().find(|a| a.id == change.id) {
                a.outcome = change.outcome.as_str().to_owned();
                a.reason = change.reason.clone();
                a.parser_version = change.parser_version.clone();
                n += 1;
            }
        }
        state.version += 1;
        Ok(n)
    }
}
