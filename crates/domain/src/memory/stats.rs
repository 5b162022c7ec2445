//! [`SignalStatistics`] over the in-memory store.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, in_window};
use crate::model::{ChannelId, Signal, SignalStatus, Ticker};
use crate::ports::{
    AssetStats, ChannelStats, GroupStats, HourlyCount, SignalStatistics, SignalStats, StatsQuery,
    StoreError,
};

#[async_trait]
impl SignalStatistics for MemoryStore {
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        self.check()?;
        let state = self.lock();
        Ok(SignalStatus::NAMES
            .into_iter()
            .map(|name| {
                let n = state
                    .signals
                    .values()
                    .filter(|s| !s.deleted && s.status.as_str() == name)
                    .count();
                (name, n as u64)
            })
            .collect())
    }

    async fn signal_stats(&self, q: &StatsQuery) -> Result<SignalStats, StoreError> {
        use chrono::{DurationRound, TimeDelta};
        self.check()?;
        let state = self.lock();
        let signals: Vec<&Signal> = state
            .signals
            .values()
            .filter(|s| {
                !s.deleted
                    && q.channel.is_none_or(|c| c == s.channel_id)
                    && q.asset.as_ref().is_none_or(|a| a == &s.call.asset)
            })
            .filter(|s| {
                let bucket = s
                    .message_date
                    .duration_trunc(TimeDelta::hours(1))
                    .unwrap_or(s.message_date);
                in_window(bucket, q.from, q.to)
            })
            .collect();
        let mut by_hour: HashMap<DateTime<Utc>, u64> = HashMap::new();
        let mut by_asset: HashMap<Ticker, Vec<&Signal>> = HashMap::new();
        let mut by_channel: HashMap<ChannelId, Vec<&Signal>> = HashMap::new();
        for s in &signals {
            let bucket = s
                .message_date
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(s.message_date);
            *by_hour.entry(bucket).or_default() += 1;
            by_asset.entry(s.call.asset.clone()).or_default().push(s);
            by_channel.entry(s.channel_id).or_default().push(s);
        }
        let mut by_hour: Vec<HourlyCount> = by_hour
            .into_iter()
            .map(|(bucket, signal_count)| HourlyCount {
                bucket,
                signal_count,
            })
            .collect();
        by_hour.sort_by_key(|h| h.bucket);
        let mut by_asset: Vec<AssetStats> = by_asset
            .into_iter()
            .map(|(asset, group)| AssetStats {
                asset,
                stats: group_stats(&group),
            })
            .collect();
        by_asset.sort_by(|a, b| {
            b.stats
                .signal_count
                .cmp(&a.stats.signal_count)
                .then_with(|| a.asset.cmp(&b.asset))
        });
        by_asset.truncate(q.top_assets.max(1) as usize);
        let mut by_channel: Vec<ChannelStats> = by_channel
            .into_iter()
            .map(|(channel_id, group)| ChannelStats {
                channel_id,
                label: state.channel_labels.get(&channel_id).cloned(),
                stats: group_stats(&group),
            })
            .collect();
        by_channel.sort_by(|a, b| {
            b.stats
                .signal_count
                .cmp(&a.stats.signal_count)
                .then_with(|| a.channel_id.cmp(&b.channel_id))
        });
        Ok(SignalStats {
            total: signals.len() as u64,
            by_hour,
            by_asset,
            by_channel,
        })
    }
}

fn group_stats(group: &[&Signal]) -> GroupStats {
    use rust_decimal::prelude::ToPrimitive;
    let avg = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let f = |p: crate::model::Price| p.value().to_f64().unwrap_or(0.0);
    let ranges = group
        .iter()
        .filter_map(|s| s.call.entry.map(|e| f(e.max()) - f(e.min())))
        .collect();
    let upsides = group
        .iter()
        .filter_map(|s| {
            let e = s.call.entry?;
            let t = f(s.call.target_final?);
            Some(match s.call.direction {
                crate::model::Direction::Long => (t - f(e.max())) / f(e.max()) * 100.0,
                crate::model::Direction::Short => (f(e.min()) - t) / f(e.min()) * 100.0,
            })
        })
        .collect();
    let downsides = group
        .iter()
        .filter_map(|s| {
            let e = s.call.entry?;
            let stop = f(s.call.stop?);
            Some(match s.call.direction {
                crate::model::Direction::Long => (f(e.min()) - stop) / f(e.min()) * 100.0,
                crate::model::Direction::Short => (stop - f(e.max())) / f(e.max()) * 100.0,
            })
        })
        .collect();
    GroupStats {
        signal_count: group.len() as u64,
        avg_range: avg(ranges),
        avg_upside_pct: avg(upsides),
        avg_downside_pct: avg(downsides),
        last_signal_at: group.iter().map(|s| s.message_date).max(),
    }
}
