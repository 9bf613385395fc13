-- Quality domain: source priority, the preferred-reading view, learned climatology, NWMP annual statistics.
-- See docs/warehouse.md for every column.

-- Which version of the QARTOD thresholds (quality/qartod_thresholds.yaml) and climatology scored a row.
ALTER TABLE core.readings ADD COLUMN IF NOT EXISTS qc_version text;

-- Source priority (ARCHITECTURE §4): IoT sensor > government > satellite > model forecast. Lower wins.
-- is_observation = false for NWMP annual min/max: they are statistics, not samples at an instant, and are
-- kept out of the preferred view, the rollups and the WQI.
CREATE TABLE ref.source_priority (
    source         text PRIMARY KEY,
    source_class   text NOT NULL CHECK (source_class IN ('iot', 'government', 'satellite', 'model')),
    priority       smallint NOT NULL,
    is_observation boolean NOT NULL DEFAULT true,
    description    text
);
INSERT INTO ref.source_priority (source, source_class, priority, is_observation, description) VALUES
    ('iot',            'iot',        1, true,  'live sensors via MQTT (raw.sensor_readings)'),
    ('cwc',            'government', 2, true,  'CWC / India-WRIS river level and discharge'),
    ('mpcb',           'government', 2, true,  'MPCB monthly station tables'),
    ('imd',            'government', 2, true,  'IMD gridded rainfall / temperature at the station'),
    ('cpcb_nwmp_mean', 'government', 2, true,  'CPCB NWMP annual mean'),
    ('cpcb_nwmp_min',  'government', 2, false, 'CPCB NWMP annual minimum (statistic, not a sample)'),
    ('cpcb_nwmp_max',  'government', 2, false, 'CPCB NWMP annual maximum (statistic, not a sample)'),
    ('sentinel2',      'satellite',  3, true,  'Sentinel-2 indices over the station buffer'),
    ('landsat8',       'satellite',  3, true,  'Landsat 8 indices over the station buffer'),
    ('landsat9',       'satellite',  3, true,  'Landsat 9 indices over the station buffer'),
    ('forecast',       'model',      4, true,  'model forecast')
ON CONFLICT (source) DO NOTHING;

-- One reading per station/parameter/time: the highest-priority observation source. Filters on station_id,
-- parameter and ts are pushed below the DISTINCT ON, so the (station_id, parameter, ts) index serves them.
CREATE VIEW core.readings_preferred AS
SELECT DISTINCT ON (r.station_id, r.parameter, r.ts)
       r.station_id, r.parameter, r.ts, r.source, r.value, r.unit, r.censored, r.qc_flag, r.quality,
       r.approval_status, p.priority AS source_priority
FROM core.readings r
JOIN ref.source_priority p ON p.source = r.source AND p.is_observation
ORDER BY r.station_id, r.parameter, r.ts, p.priority, r.source;

-- CPCB NWMP annual statistics side by side (one row per station, parameter, year).
CREATE VIEW core.nwmp_annual AS
SELECT station_id, parameter,
       extract(year FROM ts AT TIME ZONE 'Asia/Kolkata')::int AS year,
       min(unit) AS unit,
       max(value) FILTER (WHERE source = 'cpcb_nwmp_min')    AS annual_min,
       max(censored) FILTER (WHERE source = 'cpcb_nwmp_min') AS annual_min_censored,
       max(value) FILTER (WHERE source = 'cpcb_nwmp_max')    AS annual_max,
       max(censored) FILTER (WHERE source = 'cpcb_nwmp_max') AS annual_max_censored,
       max(value) FILTER (WHERE source = 'cpcb_nwmp_mean')   AS annual_mean,
       max(qc_flag) AS worst_qc_flag
FROM core.readings
WHERE source IN ('cpcb_nwmp_min', 'cpcb_nwmp_max', 'cpcb_nwmp_mean')
GROUP BY station_id, parameter, extract(year FROM ts AT TIME ZONE 'Asia/Kolkata');

-- Climatology spans for the QARTOD climatology test, learned from history by ["core","qc_climatology"];
-- every learning run is a new version, older versions are kept so a scored row can be explained.
CREATE TABLE core.qc_climatology (
    version        text NOT NULL,               -- e.g. 'clim-20250601T020000Z'
    station_id     text NOT NULL,
    parameter      text NOT NULL,
    month          smallint NOT NULL CHECK (month BETWEEN 1 AND 12),   -- IST calendar month
    suspect_min    double precision NOT NULL,
    suspect_max    double precision NOT NULL,
    q_low          double precision NOT NULL,
    q_high         double precision NOT NULL,
    n_samples      integer NOT NULL,
    history_start  timestamptz,
    history_end    timestamptz,
    learned_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, station_id, parameter, month)
);
CREATE INDEX ON core.qc_climatology (learned_at DESC);

CREATE VIEW core.qc_climatology_current AS
SELECT c.* FROM core.qc_climatology c
WHERE c.version = (SELECT version FROM core.qc_climatology ORDER BY learned_at DESC, version DESC LIMIT 1);
