-- Analysts read a station's rollups over long windows ("one station-year of hourly means", ordered by
-- parameter and time). Rollup rows are written day by day for every station, so one station's year lies on
-- one heap page per row and a plain index scan reads ~13 k pages per station-quarter. Making the unique key
-- itself covering (INCLUDE the value columns) lets those queries run as index-only scans, already in
-- (parameter, bucket) order, without a second index to maintain on every write. Autovacuum keeps the
-- visibility map current for these insert-mostly tables.
ALTER TABLE mart.readings_hourly
    DROP CONSTRAINT readings_hourly_station_id_parameter_bucket_key,
    ADD CONSTRAINT readings_hourly_station_id_parameter_bucket_key UNIQUE (station_id, parameter, bucket)
        INCLUDE (unit, value_mean, value_min, value_max, good_count, reading_count);
ALTER TABLE mart.readings_daily
    DROP CONSTRAINT readings_daily_station_id_parameter_bucket_key,
    ADD CONSTRAINT readings_daily_station_id_parameter_bucket_key UNIQUE (station_id, parameter, bucket)
        INCLUDE (unit, value_mean, value_min, value_max, good_count, reading_count);
ALTER TABLE mart.readings_weekly
    DROP CONSTRAINT readings_weekly_station_id_parameter_bucket_key,
    ADD CONSTRAINT readings_weekly_station_id_parameter_bucket_key UNIQUE (station_id, parameter, bucket)
        INCLUDE (unit, value_mean, value_min, value_max, good_count, reading_count);
