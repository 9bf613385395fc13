-- Issue 17: native compression for every large time-series table, and retention policies installed now
-- rather than at the first nightly maintenance run. TimescaleDB Community only: the Apache-2 edition (what
-- Debian ships) has neither compression nor background policies, so there this migration changes nothing
-- (its maintenance job keeps applying ops.retention_policies with drop_chunks).
--
-- Settings come from how the tables are read (docs/warehouse.md, the read API): by station and parameter
-- over a time window. So segment by the station/parameter keys (one compressed batch per series; a station's
-- query reads only its own batches) and order by time (min/max metadata per batch lets a window skip
-- batches). Every column of a table's unique key is a segment-by or order-by column, so TimescaleDB can
-- enforce the key on compressed data without a full decompression.
--
-- | table                  | rows/year at 300 stations      | segment by              | order by              | compress after |
-- | core.readings          | ~10^7–10^8 (every source)      | station_id, parameter   | ts, source            | 30 days (0002)  |
-- | raw.sensor_messages    | one per live message           | station_id, sensor_id   | ts                    | 7 days (0201)   |
-- | mart.readings_hourly   | stations x parameters x 8,760  | station_id, parameter   | bucket                | 180 days        |
-- | mart.readings_daily    | stations x parameters x 365    | station_id, parameter   | bucket                | 2 years         |
-- | mart.forecasts         | 4 issues/h x 3 horizons/series | station_id, parameter   | issued_at, horizon_h  | 30 days         |
-- | ml.forecast_features   | hourly per live series         | station_id, parameter   | ts                    | 60 days         |
--
-- Left uncompressed, as small: the monthly/annual/per-sample marts, the weekly rollup, mart.forecast_alerts
-- and the government raw tables (annual/monthly/daily station values: thousands of rows a year).
-- Horizons sit past the windows the schedules re-write (live re-scoring: days; hourly rollups: the last
-- days; forecasts: the current issue); a backfill older than a horizon goes through the partition writer,
-- which decompresses what it rewrites in its own transaction (warehouse/compression.py), and the policy
-- recompresses it on its next run.
DO $$
DECLARE
    policy record;
BEGIN
    IF current_setting('timescaledb.license', true) IS DISTINCT FROM 'timescale' THEN
        RETURN;
    END IF;

    -- core.readings: 0002 ordered by ts only, which left `source` (part of the key) uncovered.
    ALTER TABLE core.readings SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'ts, source');

    ALTER TABLE mart.readings_hourly SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'bucket');
    PERFORM add_compression_policy('mart.readings_hourly', interval '180 days', if_not_exists => true);

    ALTER TABLE mart.readings_daily SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'bucket');
    PERFORM add_compression_policy('mart.readings_daily', interval '2 years', if_not_exists => true);

    ALTER TABLE mart.forecasts SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'station_id, parameter',
        timescaledb.compress_orderby = 'issued_at, horizon_h');
    PERFORM add_compression_policy('mart.forecasts', interval '30 days', if_not_exists => true);

    ALTER TABLE ml.forecast_features SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'ts');
    PERFORM add_compression_policy('ml.forecast_features', interval '60 days', if_not_exists => true);

    -- Retention as configured in ops.retention_policies, installed now (the nightly job keeps them in step
    -- with later changes to the configuration, as before).
    FOR policy IN SELECT table_name, keep FROM ops.retention_policies WHERE keep IS NOT NULL LOOP
        PERFORM remove_retention_policy(policy.table_name::regclass, if_exists => true);
        PERFORM add_retention_policy(policy.table_name::regclass, drop_after => policy.keep);
    END LOOP;
END $$;
