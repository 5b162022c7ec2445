-- The legacy dedicated stack's schema as its init script creates it
-- (backend/data/timescaledb/tp-capital/01-init-schema.sql of the legacy repository: the column
-- list and types written out here, nothing else taken): `signals.tp_capital_signals` with a
-- SERIAL id, `ts BIGINT` epoch milliseconds and DECIMAL(12,2) prices, a 1-day hypertable on
-- `ingested_at` when TimescaleDB is installed; `forwarded_messages.messages` with a SERIAL id,
-- a TEXT channel id and a 7-day hypertable on `forwarded_at`. No `telegram_channels`: channel
-- titles get synthetic ids. The caller replaces the placeholders:
--   {{ROWS}}      signals spread over 90 days from 2025-09-01, 20 channels
--   {{MESSAGES}}  archived messages over the same days
-- Edge cases, by row number g: B3SA3 (every 40th), `Opções` (every 4th), the placeholder
-- channel "Desconhecido" (every 20th), NULL targets, and rows the new schema refuses: a stop
-- above the entry (every 997th), a zero price (every 1009th), a word instead of a ticker
-- (every 1013th). Plus one checkpoint row of the legacy sync worker.

CREATE SCHEMA signals;
CREATE SCHEMA forwarded_messages;

CREATE TABLE signals.tp_capital_signals (
  id           SERIAL,
  channel      TEXT NOT NULL,
  signal_type  TEXT NOT NULL,
  asset        TEXT NOT NULL,
  buy_min      DECIMAL(12, 2),
  buy_max      DECIMAL(12, 2),
  target_1     DECIMAL(12, 2),
  target_2     DECIMAL(12, 2),
  target_final DECIMAL(12, 2),
  stop         DECIMAL(12, 2),
  raw_message  TEXT NOT NULL,
  source       TEXT NOT NULL DEFAULT 'telegram',
  ingested_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  ts           BIGINT NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at   TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE forwarded_messages.messages (
  id                 SERIAL,
  channel_id         TEXT NOT NULL,
  message_id         BIGINT NOT NULL,
  text               TEXT,
  photo_id           TEXT,
  video_id           TEXT,
  file_id            TEXT,
  media_type         TEXT,
  original_timestamp TIMESTAMPTZ NOT NULL,
  forwarded_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  metadata           JSONB,
  CONSTRAINT unique_forwarded_message UNIQUE (channel_id, message_id, original_timestamp, forwarded_at)
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM create_hypertable('signals.tp_capital_signals', 'ingested_at',
                              chunk_time_interval => INTERVAL '1 day');
    PERFORM create_hypertable('forwarded_messages.messages', 'forwarded_at',
                              chunk_time_interval => INTERVAL '7 days');
  END IF;
END $$;

WITH x AS MATERIALIZED (
  SELECT g,
         timestamptz '2025-09-01 00:00:00+00' + (g - 1) * (interval '90 days' / {{ROWS}})
           + (g % 1000) * interval '1 millisecond' AS t,
         round((0.10 + (g % 900) * 0.01)::numeric, 2) AS base
  FROM generate_series(1, {{ROWS}}) AS g
), s AS MATERIALIZED (
  SELECT g, t, base,
    CASE WHEN g % 20 = 0 THEN 'Desconhecido'
         WHEN g % 20 < 10 THEN 'Canal ' || (g % 20)
         ELSE '-10010000000' || (g % 20) END AS channel,
    CASE WHEN g % 4 = 0 THEN 'Opções'
         ELSE (ARRAY['Swing Trade', 'Day Trade', 'Position'])[g % 3 + 1] END AS signal_type,
    CASE WHEN g % 1013 = 0 THEN 'ALVO'
         WHEN g % 40 = 0 THEN 'B3SA3'
         WHEN g % 4 = 0 THEN (ARRAY['PETRK', 'VALEL', 'BOVAX', 'ITUBM'])[g % 4 + 1] || (100 + g % 800)
         ELSE (ARRAY['PETR4', 'VALE3', 'ITUB4', 'BBAS3', 'WEGE3'])[g % 5 + 1] END AS asset
  FROM x
)
INSERT INTO signals.tp_capital_signals
  (channel, signal_type, asset, buy_min, buy_max, target_1, target_2, target_final, stop,
   raw_message, source, ingested_at, ts, created_at, updated_at)
SELECT channel, signal_type, asset,
       base,
       CASE WHEN g % 1009 = 0 THEN 0 ELSE base + 0.02 END,
       base + 0.10,
       CASE WHEN g % 7 = 0 THEN NULL ELSE base * 2 END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE base * 3 END,
       CASE WHEN g % 997 = 0 THEN base + 1 ELSE round(base * 0.6, 2) END,
       format(E'%s\n%s\nCOMPRA %s A %s\nALVO %s\nSTOP %s', channel, asset, base, base + 0.02,
              base + 0.10, round(base * 0.6, 2)),
       CASE WHEN g % 2 = 0 THEN 'telegram' ELSE 'forwarder' END,
       t + interval '2 seconds',
       (extract(epoch FROM t) * 1000)::bigint,
       t + interval '2 seconds',
       t + interval '2 seconds'
FROM s ORDER BY g;

-- The legacy sync worker's checkpoint (historicalSyncWorker.saveCheckpoint).
INSERT INTO signals.tp_capital_signals (channel, signal_type, asset, raw_message, source, ingested_at, ts)
VALUES ('system', 'historical_sync', '__checkpoint__',
        '{"completed":true,"totalSynced":{{ROWS}},"batches":200}', 'historical-sync-worker',
        timestamptz '2025-11-29 12:00:00+00', 1764417600000);

WITH x AS MATERIALIZED (
  SELECT g, timestamptz '2025-09-01 00:00:00+00' + (g - 1) * (interval '90 days' / {{MESSAGES}}) AS t
  FROM generate_series(1, {{MESSAGES}}) AS g
)
INSERT INTO forwarded_messages.messages
  (channel_id, message_id, text, photo_id, media_type, original_timestamp, forwarded_at, metadata)
SELECT '-10010000000' || (10 + g % 10), g,
       CASE WHEN g % 41 = 0 THEN NULL ELSE format(E'COMPRA PETR4\nENTRADA %s\nmensagem %s', g % 900, g) END,
       CASE WHEN g % 5 = 0 THEN 'AgACAgEAAx' || g END,
       CASE WHEN g % 5 = 0 THEN 'photo' END,
       t, t + interval '1 second', '{"forwarded": true}'::jsonb
FROM x;

ANALYZE signals.tp_capital_signals;
ANALYZE forwarded_messages.messages;
