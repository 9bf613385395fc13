-- Live path (realtime_bridge): per-station sensor health, kept by the bridge from readings and heartbeats.
-- One row per station. The bridge upserts it in the same transaction as the readings it lands (so health
-- never runs ahead of data), and a once-a-minute check (as in the original system) marks stations that
-- went quiet as offline and refreshes the message rate.
CREATE TABLE IF NOT EXISTS ops.sensor_health (
    station_id        text PRIMARY KEY,
    status            text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline')),
    reported_status   text,                       -- what the last heartbeat said ('online', 'low_battery', ...)
    last_seen         timestamptz NOT NULL,       -- when the bridge last received anything from the station
    last_reading_ts   timestamptz,                -- newest measurement time in a readings message
    last_heartbeat_at timestamptz,                -- when the bridge last received a status message
    battery_pct       double precision,           -- last reported, NULL when the sensor never reports it
    signal_dbm        double precision,
    messages_total    bigint NOT NULL DEFAULT 0,  -- readings + status messages since the row was created
    rate_base_total   bigint NOT NULL DEFAULT 0,  -- messages_total at the last rate check
    rate_checked_at   timestamptz NOT NULL DEFAULT now(),
    messages_per_min  double precision,           -- over the interval between the last two checks
    offline_since     timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sensor_health_status_idx ON ops.sensor_health (status, last_seen);
COMMENT ON TABLE ops.sensor_health IS
    'IoT sensor health per station (realtime_bridge): last seen, message rate, battery/signal, online/offline';
