-- Marts: rollups, station WQI, latest values / station status, alerts. See docs/warehouse.md.
-- Rollups are Dagster-maintained hypertables on BOTH TimescaleDB editions (a partition re-run replaces its
-- buckets; the QC filter "good readings only" is applied the same way everywhere).

CREATE TABLE mart.readings_hourly (
    station_id    text NOT NULL,
    parameter     text NOT NULL,
    bucket        timestamptz NOT NULL,          -- start of the IST hour
    unit          text NOT NULL,
    value_mean    double precision,              -- of good readings (qc_flag = 1); NULL when none
    value_min     double precision,
    value_max     double precision,
    good_count    integer NOT NULL,              -- good readings in the bucket
    reading_count integer NOT NULL,              -- all preferred readings in the bucket (completeness)
    computed_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, bucket)
);
SELECT create_hypertable('mart.readings_hourly', 'bucket', chunk_time_interval => interval '90 days');

CREATE TABLE mart.readings_daily (LIKE mart.readings_hourly INCLUDING DEFAULTS);
ALTER TABLE mart.readings_daily ADD UNIQUE (station_id, parameter, bucket);
SELECT create_hypertable('mart.readings_daily', 'bucket', chunk_time_interval => interval '1 year');
COMMENT ON COLUMN mart.readings_daily.bucket IS 'IST midnight starting the day';

CREATE TABLE mart.readings_weekly (LIKE mart.readings_hourly INCLUDING DEFAULTS);
ALTER TABLE mart.readings_weekly ADD UNIQUE (station_id, parameter, bucket);
SELECT create_hypertable('mart.readings_weekly', 'bucket', chunk_time_interval => interval '1 year');
COMMENT ON COLUMN mart.readings_weekly.bucket IS 'IST midnight starting the week (Sunday, as the Dagster weekly partitions)';

CREATE TABLE mart.station_wqi_daily (
    station_id           text NOT NULL,
    day                  timestamptz NOT NULL,   -- IST midnight
    do_mg_l              double precision,       -- daily mean of good readings (preferred source)
    bod_mg_l             double precision,
    ph                   double precision,
    fc_mpn_100ml         double precision,
    tc_mpn_100ml         double precision,
    temp_c               double precision,
    ec_us_cm             double precision,
    do_sat_pct           double precision,
    si_do                double precision,
    si_fc                double precision,
    si_ph                double precision,
    si_bod               double precision,
    wqi                  double precision,       -- CPCB/MPCB NSF-based 4-parameter WQI, 0–100
    wqi_label            text,
    wqi_class            text,
    best_use_class       text,                   -- CPCB designated best use A–E / Below-E / NULL undecided
    best_use             text,
    missing_parameters   text,
    failed_criteria      text,
    do_saturation_method text NOT NULL,
    censored_inputs      text,                   -- inputs that were censored lab values, e.g. 'fc_mpn_100ml>'
    good_readings        integer NOT NULL,
    computed_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, day)
);
SELECT create_hypertable('mart.station_wqi_daily', 'day', chunk_time_interval => interval '1 year');

-- Latest preferred reading per station and parameter; upserted by ["mart","station_status"] (a row only
-- moves forward in time, so a backfill of an old day never overwrites a newer value).
CREATE TABLE mart.station_latest (
    station_id  text NOT NULL,
    parameter   text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision,
    unit        text NOT NULL,
    censored    text,
    source      text NOT NULL,
    qc_flag     smallint NOT NULL,
    quality     text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, parameter)
);

CREATE TABLE mart.alerts (
    alert_id      bigserial PRIMARY KEY,
    station_id    text NOT NULL,
    parameter     text NOT NULL,                -- '*' for station-level rules (sensor offline)
    rule          text NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status        text NOT NULL CHECK (status IN ('open', 'resolved')),
    first_seen    timestamptz NOT NULL,         -- first breaching reading
    last_seen     timestamptz NOT NULL,         -- latest breaching reading
    resolved_at   timestamptz,                  -- first recovered reading after the cooldown
    breach_count  integer NOT NULL DEFAULT 1,
    last_value    double precision,
    worst_value   double precision,
    threshold     text,
    message       text NOT NULL,
    rules_version text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One open alert per station/parameter/rule: the cooldown extends it instead of opening a second one.
CREATE UNIQUE INDEX alerts_one_open ON mart.alerts (station_id, parameter, rule) WHERE status = 'open';
CREATE INDEX ON mart.alerts (station_id, parameter, rule, last_seen DESC);
CREATE INDEX ON mart.alerts (status, severity);

-- Station status: latest value per parameter, latest WQI, sensor health and open alerts, as of now().
CREATE VIEW mart.station_status AS
WITH station_last AS (
    SELECT station_id, max(ts) AS last_reading_at,
           count(*) FILTER (WHERE qc_flag IN (3, 4)) AS latest_flagged,
           bool_or(source = 'iot') AS live
    FROM mart.station_latest GROUP BY station_id
), latest_wqi AS (
    SELECT DISTINCT ON (station_id) station_id, day, wqi, wqi_label, wqi_class, best_use_class
    FROM mart.station_wqi_daily WHERE wqi IS NOT NULL OR best_use_class IS NOT NULL
    ORDER BY station_id, day DESC
), open_alerts AS (
    SELECT station_id, count(*) AS open_alerts,
           (array_agg(severity ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END))[1]
               AS worst_open_severity,
           bool_or(rule = 'sensor_offline') AS offline_alert
    FROM mart.alerts WHERE status = 'open' GROUP BY station_id
)
SELECT l.station_id, s.name AS station_name, s.network, s.river, s.basin, s.district,
       l.parameter, l.ts, l.value, l.unit, l.censored, l.source, l.qc_flag, l.quality,
       w.day AS wqi_day, w.wqi, w.wqi_label, w.wqi_class, w.best_use_class,
       sl.last_reading_at,
       CASE
           WHEN NOT sl.live THEN 'not_applicable'   -- periodic lab / gauge / satellite stations
           WHEN sl.last_reading_at < now() - interval '2 hours' OR coalesce(a.offline_alert, false) THEN 'offline'
           WHEN sl.latest_flagged > 0 THEN 'degraded'
           ELSE 'ok'
       END AS sensor_health,
       coalesce(a.open_alerts, 0) AS open_alerts,
       a.worst_open_severity
FROM mart.station_latest l
JOIN station_last sl USING (station_id)
LEFT JOIN ref.stations s USING (station_id)
LEFT JOIN latest_wqi w USING (station_id)
LEFT JOIN open_alerts a USING (station_id);
