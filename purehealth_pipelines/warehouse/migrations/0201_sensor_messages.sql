-- Live landing table, one row per MQTT message (as delivered), instead of one row per reading.
--
-- Why: the bridge's landing rate was bound by PostgreSQL's per-row cost on a 2-core machine (COPY of one
-- row per reading with three indexes: ~115 k rows/s; bench/bench_live.py). A message carries all the
-- parameters a station measured at one instant, so storing it whole (parameters and values as parallel
-- arrays) costs the database one tuple and one index entry per message instead of five: ~105 k msg/s
-- = ~525 k readings/s by the same COPY measure. The per-reading shape everyone downstream uses is kept as
-- the view raw.sensor_readings (same columns as the old table; unit from ref.parameters, which the bridge
-- validated the codes against).
--
-- Exactly once: the key is (station_id, ts, sensor_id) with NULLS NOT DISTINCT (sensor_id is optional in
-- the payload). A redelivered message hits the key and is absorbed; a *different* message with the same
-- key is not silently dropped: the bridge dead-letters it (reason conflicting_duplicate).
-- Indexes: the key, and a BRIN on ingested_at for the Dagster sensor's high-water mark and WebSocket replay
-- (ingested_at grows with the physical order of each chunk, so BRIN serves both range scans at a fraction of
-- a B-tree's write cost). No default ts index: every time-range reader gets chunk exclusion on ts and a
-- day-sized chunk scan.
CREATE TABLE raw.sensor_messages (
    station_id  text NOT NULL,
    ts          timestamptz NOT NULL,
    sensor_id   text,
    parameters  text[] NOT NULL,
    "values"    double precision[] NOT NULL,
    seq         bigint,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sensor_messages_key UNIQUE NULLS NOT DISTINCT (station_id, ts, sensor_id),
    CONSTRAINT sensor_messages_parallel_arrays
        CHECK (cardinality(parameters) = cardinality("values") AND cardinality(parameters) > 0)
);
SELECT create_hypertable('raw.sensor_messages', 'ts', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
CREATE INDEX sensor_messages_ingested_at_brin ON raw.sensor_messages USING brin (ingested_at);
COMMENT ON TABLE raw.sensor_messages IS
    'MQTT readings messages as landed by realtime_bridge (one row per message); per reading: raw.sensor_readings';

-- What was already landed moves over, one message per (station, ts, sensor).
INSERT INTO raw.sensor_messages (station_id, ts, sensor_id, parameters, "values", seq, ingested_at)
SELECT station_id, ts, sensor_id, array_agg(parameter ORDER BY parameter), array_agg(value ORDER BY parameter),
       max(seq), max(ingested_at)
  FROM raw.sensor_readings
 GROUP BY station_id, ts, sensor_id;
DROP TABLE raw.sensor_readings;

CREATE VIEW raw.sensor_readings AS
SELECT m.station_id, r.parameter, m.ts, r.value, p.unit, m.sensor_id, m.seq,
       'purehealth/v1/stations/' || m.station_id || '/readings' AS topic, m.ingested_at
  FROM raw.sensor_messages m
 CROSS JOIN LATERAL unnest(m.parameters, m."values") AS r(parameter, value)
  LEFT JOIN ref.parameters p ON p.code = r.parameter;
COMMENT ON VIEW raw.sensor_readings IS
    'One row per live reading (unnests raw.sensor_messages); the shape core/readings reads';

GRANT SELECT, INSERT, UPDATE, DELETE ON raw.sensor_messages TO purehealth_writer;
GRANT SELECT ON raw.sensor_readings TO purehealth_writer;

UPDATE ops.retention_policies SET table_name = 'raw.sensor_messages' WHERE table_name = 'raw.sensor_readings';

-- Compression (Community edition only, as in 0002): every column of the unique key must be a segment-by or
-- order-by column, so a station's sensors are the segments.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE raw.sensor_messages SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'station_id, sensor_id', timescaledb.compress_orderby = 'ts');
        PERFORM add_compression_policy('raw.sensor_messages', interval '7 days', if_not_exists => true);
    END IF;
END $$;
