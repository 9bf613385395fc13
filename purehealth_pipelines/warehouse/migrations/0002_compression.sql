-- Native compression where the edition has it (TimescaleDB Community); a no-op on the Apache-2 edition,
-- which Debian ships. Segment by station and parameter: analysts filter on both.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE raw.sensor_readings SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'ts');
        PERFORM add_compression_policy('raw.sensor_readings', interval '7 days', if_not_exists => true);
        ALTER TABLE core.readings SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'station_id, parameter', timescaledb.compress_orderby = 'ts');
        PERFORM add_compression_policy('core.readings', interval '30 days', if_not_exists => true);
    END IF;
END $$;
