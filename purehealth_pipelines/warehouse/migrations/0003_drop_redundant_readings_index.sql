-- core.readings had an index on (station_id, parameter, ts DESC) beside its unique key
-- (station_id, parameter, ts, source): the unique key already serves every lookup by station and parameter
-- over a time range, in either direction, so the extra index only cost write time (a third of the index
-- maintenance on every partition write).
DROP INDEX IF EXISTS core.readings_station_id_parameter_ts_idx;
