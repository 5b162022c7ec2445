-- A legacy TP-Capital schema (`tp_capital` of the shared database) filled with generated rows,
-- for the import tests and scripts/legacy-bench.sh. The caller replaces the placeholders:
--   {{ROWS}}      signals to generate (plus a duplicate of every 500th)
--   {{MESSAGES}}  forwarded messages to generate (plus a second delivery of every 97th)
--   {{TS_TYPE}}   timestamptz, or bigint for the variant that stores epoch milliseconds
--   {{TS}}        the expression of a time `t` in that type: `t`, or
--                 `(extract(epoch FROM t) * 1000)::bigint`
-- The columns are the shared database's `tp_capital.tp_capital_signals` (UUID id); the dedicated
-- stack's shape is legacy_fixture_dedicated.sql. Edge cases, by row number g: channel as a numeric id or as a title (exact, other case and
-- blanks, unknown, ambiguous), NULL prices (target_2, target_final, stop, the entry), 3-decimal
-- option premiums (0.255) and 6-decimal prices, NULL raw messages and sources, unknown signal
-- types, and rows the new schema must refuse: no prices at all, stop above the entry, 7
-- decimals, a zero price, a word instead of a ticker, no channel, a time in 1970.

CREATE SCHEMA tp_capital;

CREATE TABLE tp_capital.telegram_channels (
  channel_id   BIGINT PRIMARY KEY,
  label        TEXT,
  channel_type TEXT,
  status       TEXT,
  bot_token    TEXT,
  api_hash     TEXT
);
INSERT INTO tp_capital.telegram_channels VALUES
  (-1001000000001, 'TP Capital',      'signals',   'active',   '111111:SECRET-TOKEN-A', 'SECRET-HASH-A'),
  (-1001000000002, 'Opções VIP',      'signals',   'active',   '222222:SECRET-TOKEN-B', 'SECRET-HASH-B'),
  (-1001000000003, 'Swing Club',      'forwarder', 'paused',   '333333:SECRET-TOKEN-C', 'SECRET-HASH-C'),
  (-1001000000004, 'Clube Duplicado', 'signals',   'active',   '444444:SECRET-TOKEN-D', 'SECRET-HASH-D'),
  (-1001000000005, 'clube duplicado', 'signals',   'inactive', '555555:SECRET-TOKEN-E', 'SECRET-HASH-E');

CREATE TABLE tp_capital.tp_capital_signals (
  id           UUID PRIMARY KEY,
  ts           {{TS_TYPE}},
  channel      TEXT,
  signal_type  TEXT,
  asset        TEXT,
  buy_min      NUMERIC,
  buy_max      NUMERIC,
  target_1     NUMERIC,
  target_2     NUMERIC,
  target_final NUMERIC,
  stop         NUMERIC,
  raw_message  TEXT,
  source       TEXT,
  ingested_at  TIMESTAMPTZ,
  created_at   TIMESTAMPTZ,
  updated_at   TIMESTAMPTZ,
  legacy_flags TEXT
);

WITH x AS MATERIALIZED (
  SELECT g,
         CASE WHEN g % 1039 = 0 THEN timestamptz '1970-01-20 00:00:00+00'
              ELSE timestamptz '2024-01-02 12:00:00+00' + g * interval '13 seconds'
                   + (g % 1000) * interval '1 millisecond' END AS t,
         (0.100 + (g % 900) * 0.001) * CASE WHEN g % 1009 = 0 THEN 100000 ELSE 1 END AS base
  FROM generate_series(1, {{ROWS}}) AS g
), s AS MATERIALIZED (
  SELECT g, t,
    CASE WHEN g % 1031 = 0 THEN NULL
         ELSE (ARRAY['-1001000000001', '-1001000000001', '-1001000000001', '-1001000000001',
                     'TP Capital', ' tp capital ', 'Opções VIP', '-1001000000003',
                     'Desconhecido', 'Clube Duplicado'])[g % 10 + 1] END AS channel,
    CASE WHEN g % 17 = 0 THEN NULL
         ELSE (ARRAY['Swing Trade', 'Day Trade', 'scalping', 'Position', 'swing_trade', 'Opção'])[g % 6 + 1] END
      AS signal_type,
    CASE WHEN g % 1021 = 0 THEN 'ALVO1'
         WHEN g % 3 = 0 THEN (ARRAY['PETR4', 'VALE3', 'ITUB4', 'BBAS3'])[g % 4 + 1]
         WHEN g % 23 = 0 THEN lower((ARRAY['PETRW', 'VALEK', 'BOVAW', 'ABEVK', 'BEEFW'])[g % 5 + 1] || (100 + g % 800))
         ELSE (ARRAY['PETRW', 'VALEK', 'BOVAW', 'ABEVK', 'BEEFW'])[g % 5 + 1] || (100 + g % 800) END AS asset,
    CASE WHEN g % 997 = 0 OR g % 19 = 0 THEN NULL
         WHEN g % 101 = 0 THEN base + 0.000001 ELSE base END AS buy_min,
    CASE WHEN g % 997 = 0 OR g % 19 = 0 THEN NULL
         WHEN g % 1033 = 0 THEN 0 ELSE base + 0.020 END AS buy_max,
    CASE WHEN g % 997 = 0 THEN NULL ELSE base + 0.100 END AS target_1,
    CASE WHEN g % 997 = 0 OR g % 7 = 0 THEN NULL ELSE base * 2 END AS target_2,
    CASE WHEN g % 997 = 0 OR g % 11 = 0 THEN NULL ELSE base * 3 END AS target_final,
    CASE WHEN g % 997 = 0 OR g % 13 = 0 THEN NULL
         WHEN g % 1013 = 0 THEN base + 1
         WHEN g % 1019 = 0 THEN 0.0123457
         ELSE round(base * 0.6, 3) END AS stop
  FROM x
), r AS MATERIALIZED (
  SELECT s.*,
    CASE WHEN g % 29 = 0 THEN NULL
         ELSE format(E'DATA %s\nCANAL %s\nTIPO %s\nATIVO %s\nCOMPRA %s-%s\nALVO 1 %s\nALVO 2 %s\nALVO FINAL %s\nSTOP %s',
                     to_char(t AT TIME ZONE 'UTC', 'DD/MM/YYYY HH24:MI:SS'), channel, signal_type, upper(asset),
                     buy_min, buy_max, target_1, target_2, target_final, stop) END AS raw_message,
    CASE WHEN g % 31 = 0 THEN NULL WHEN g % 2 = 0 THEN 'forwarder' ELSE 'telegram-gateway' END AS source,
    t + interval '2 seconds' AS ingested_at,
    CASE WHEN g % 37 = 0 THEN NULL ELSE t + interval '2 seconds' END AS created_at
  FROM s
)
INSERT INTO tp_capital.tp_capital_signals
SELECT md5('tp-legacy-signal-' || g)::uuid, {{TS}}, channel, signal_type, asset, buy_min, buy_max,
       target_1, target_2, target_final, stop, raw_message, source, ingested_at, created_at,
       CASE WHEN g % 5 = 0 THEN created_at + interval '1 minute' ELSE created_at END,
       'g=' || g
FROM r
UNION ALL
-- the same message stored twice by the legacy ingest (another id, same content)
SELECT md5('tp-legacy-duplicate-' || g)::uuid, {{TS}}, channel, signal_type, asset, buy_min,
       buy_max, target_1, target_2, target_final, stop, raw_message, source, ingested_at,
       created_at, created_at, 'duplicate of g=' || g
FROM r WHERE g % 500 = 0;

CREATE TABLE tp_capital.forwarded_messages (
  id                 BIGSERIAL PRIMARY KEY,
  channel_id         BIGINT,
  message_id         BIGINT,
  message_text       TEXT,
  original_timestamp {{TS_TYPE}},
  photos             JSONB,
  received_at        TIMESTAMPTZ
);

WITH x AS MATERIALIZED (
  SELECT g, timestamptz '2024-01-02 12:00:00+00' + g * interval '61 seconds'
              + (g % 1000) * interval '1 millisecond' AS t
  FROM generate_series(1, {{MESSAGES}}) AS g
)
INSERT INTO tp_capital.forwarded_messages
  (channel_id, message_id, message_text, original_timestamp, photos, received_at)
SELECT CASE WHEN g % 1009 = 0 THEN NULL
            ELSE (ARRAY[-1001000000001, -1001000000002, -1001000000003])[g % 3 + 1] END,
       g,
       CASE WHEN g % 41 = 0 THEN NULL
            ELSE format(E'COMPRA PETRW%s\nENTRADA %s\nALVO %s\nmensagem %s', 100 + g % 800,
                        0.100 + (g % 900) * 0.001, 0.200 + (g % 900) * 0.001, g) END,
       {{TS}},
       CASE WHEN g % 4 = 0 THEN jsonb_build_array('photo_' || g || '.jpg')
            WHEN g % 4 = 1 THEN '[]'::jsonb END,
       CASE WHEN g % 43 = 0 THEN NULL ELSE t + interval '1 second' END
FROM x;

-- second deliveries of the same message: same key, received later
INSERT INTO tp_capital.forwarded_messages
  (channel_id, message_id, message_text, original_timestamp, photos, received_at)
SELECT channel_id, message_id, message_text, original_timestamp, photos, received_at + interval '5 seconds'
FROM tp_capital.forwarded_messages WHERE message_id % 97 = 0;

-- Rows both shapes have: a B3 ticker whose root holds a digit (B3SA3), an options call
-- (`Opções`, about a quarter of the real legacy rows) and the legacy sync worker's checkpoint
-- row (channel `system`, asset `__checkpoint__`: bookkeeping, not a signal).
WITH x AS (SELECT timestamptz '2024-01-03 15:00:00.250+00' AS t)
INSERT INTO tp_capital.tp_capital_signals
SELECT md5('tp-legacy-b3sa3')::uuid, {{TS}}, '-1001000000001', 'Swing Trade', 'B3SA3', 11.50, 11.80,
       12.40, NULL, 13.10, 10.90, E'COMPRA B3SA3\nENTRADA 11,50 A 11,80\nALVO 12,40\nSTOP 10,90',
       'telegram', t, t, t, 'b3sa3' FROM x
UNION ALL
SELECT md5('tp-legacy-options')::uuid, {{TS}}, 'Opções VIP', 'Opções', 'PETRK321', 0.25, 0.27, 0.40,
       0.55, NULL, 0.15, E'OPÇÃO PETRK321\nCOMPRA 0,25 A 0,27\nALVO 0,40 / 0,55\nSTOP 0,15',
       'telegram', t, t, t, 'options' FROM x
UNION ALL
SELECT md5('tp-legacy-checkpoint')::uuid, {{TS}}, 'system', 'historical_sync', '__checkpoint__',
       NULL, NULL, NULL, NULL, NULL, NULL, '{"completed":true,"totalSynced":100000,"batches":20}',
       'historical-sync-worker', t, t, t, 'checkpoint' FROM x;

ANALYZE tp_capital.tp_capital_signals;
ANALYZE tp_capital.forwarded_messages;
