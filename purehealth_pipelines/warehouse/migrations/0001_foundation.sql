-- Foundation: schemas, roles, reference tables, the sensor landing table, the canonical reading,
-- dead letters. See docs/warehouse.md for what each column means.

CREATE SCHEMA IF NOT EXISTS ref;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ml;
CREATE SCHEMA IF NOT EXISTS ops;

-- Group roles (cluster-wide, so created only when missing): the pipeline and the bridge write as
-- purehealth_writer; analysts read ref, core and mart as purehealth_analyst.
DO $$ BEGIN CREATE ROLE purehealth_writer NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE purehealth_analyst NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- Reference data ---------------------------------------------------------------------------------------
CREATE TABLE ref.stations (
    station_id   text PRIMARY KEY,              -- stable id, e.g. 'NWMP-1153', 'CWC-KARAD', 'IOT-PUNE-001'
    name         text NOT NULL,
    network      text NOT NULL,                 -- NWMP, CWC, MPCB, IOT
    source_code  text,                          -- the publisher's own code for the station
    river        text,
    district     text,
    basin        text,
    water_body_type text,                       -- river, creek, estuary, lake, drain
    latitude     double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision CHECK (longitude BETWEEN -180 AND 180),
    state        text NOT NULL DEFAULT 'Maharashtra',
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ref.parameters (
    code        text PRIMARY KEY,               -- snake_case with the unit in the name (ARCHITECTURE §5)
    name        text NOT NULL,
    unit        text NOT NULL,
    description text
);

INSERT INTO ref.parameters (code, name, unit, description) VALUES
    ('temp_c',          'Water temperature',          '°C',         NULL),
    ('do_mg_l',         'Dissolved oxygen',           'mg/L',       NULL),
    ('do_sat_pct',      'Dissolved oxygen saturation','%',          NULL),
    ('ph',              'pH',                         'pH units',   NULL),
    ('ec_us_cm',        'Electrical conductivity',    'µS/cm',      'at 25 °C; CPCB tables say µmho/cm (same unit)'),
    ('bod_mg_l',        'Biochemical oxygen demand',  'mg/L',       '5 day, 20 °C'),
    ('cod_mg_l',        'Chemical oxygen demand',     'mg/L',       NULL),
    ('nitrate_n_mg_l',  'Nitrate as N',               'mg/L',       NULL),
    ('fc_mpn_100ml',    'Fecal coliform',             'MPN/100 mL', NULL),
    ('tc_mpn_100ml',    'Total coliform',             'MPN/100 mL', NULL),
    ('fs_mpn_100ml',    'Fecal streptococci',         'MPN/100 mL', NULL),
    ('turbidity_ntu',   'Turbidity',                  'NTU',        NULL),
    ('tds_mg_l',        'Total dissolved solids',     'mg/L',       NULL),
    ('water_level_m',   'River water level',          'm',          NULL),
    ('discharge_m3_s',  'River discharge',            'm³/s',       NULL),
    ('rainfall_mm',     'Rainfall',                   'mm',         'daily total'),
    ('tmax_c',          'Maximum air temperature',    '°C',         'IMD gridded'),
    ('tmin_c',          'Minimum air temperature',    '°C',         'IMD gridded'),
    ('ndwi',            'Normalised difference water index', '1',   'McFeeters (G-NIR)/(G+NIR)'),
    ('mndwi',           'Modified NDWI',              '1',          'Xu (G-SWIR1)/(G+SWIR1)'),
    ('ndti',            'Normalised difference turbidity index', '1', '(R-G)/(R+G)'),
    ('ndci',            'Normalised difference chlorophyll index', '1', '(B5-B4)/(B5+B4), Sentinel-2 only'),
    ('chl_a_mg_m3',     'Chlorophyll-a (from NDCI)',  'mg/m³',      'Mishra & Mishra 2012; needs local calibration'),
    ('wqi',             'CPCB/NSF water quality index', '0-100',    'mart.station_wqi_daily')
ON CONFLICT (code) DO NOTHING;

-- Live landing table: what the MQTT bridge commits before it acknowledges a message --------------------
CREATE TABLE raw.sensor_readings (
    station_id  text NOT NULL,
    parameter   text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision,
    unit        text,
    sensor_id   text,
    seq         bigint,
    topic       text,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts)
);
SELECT create_hypertable('raw.sensor_readings', 'ts', chunk_time_interval => interval '1 day');
CREATE INDEX ON raw.sensor_readings (ingested_at);

-- The canonical reading (ARCHITECTURE §5, contract) -------------------------------------------------------
CREATE TABLE core.readings (
    station_id      text NOT NULL,
    parameter       text NOT NULL,
    ts              timestamptz NOT NULL,
    source          text NOT NULL,              -- iot, cpcb_nwmp, mpcb, cwc, imd, sentinel2, landsat, forecast
    value           double precision,
    unit            text NOT NULL,
    censored        text CHECK (censored IN ('<', '>')),  -- '<' below detection ('BDL', '<2'), '>' above range
    qc_flag         smallint NOT NULL DEFAULT 2 CHECK (qc_flag IN (1, 2, 3, 4, 9)),
    qc_gap          smallint,
    qc_syntax       smallint,
    qc_gross_range  smallint,
    qc_climatology  smallint,
    qc_spike        smallint,
    qc_rate_of_change smallint,
    qc_flat_line    smallint,
    quality         text GENERATED ALWAYS AS (
                        CASE qc_flag WHEN 1 THEN 'good' WHEN 3 THEN 'suspect' WHEN 4 THEN 'bad'
                                     WHEN 9 THEN 'missing' ELSE 'not evaluated' END) STORED,
    approval_status text NOT NULL DEFAULT 'provisional' CHECK (approval_status IN ('provisional', 'approved')),
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts, source)
);
SELECT create_hypertable('core.readings', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX ON core.readings (station_id, parameter, ts DESC);

-- Operations ------------------------------------------------------------------------------------------------
CREATE TABLE ops.dead_letters (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,                  -- 'mqtt', 'cpcb_nwmp', 'mpcb', ...
    origin      text,                           -- topic, file name, URL, partition key
    payload     text,                           -- the raw input, as received
    reason      text NOT NULL,
    details     jsonb,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ops.dead_letters (source, received_at DESC);

-- Retention is configuration per table; the maintenance job applies it (policies on the Community
-- edition, drop_chunks on the Apache edition). NULL keep = keep forever.
CREATE TABLE ops.retention_policies (
    table_name text PRIMARY KEY,
    keep       interval,
    note       text
);
INSERT INTO ops.retention_policies (table_name, keep, note) VALUES
    ('raw.sensor_readings', interval '90 days', 'raw sensor data: 90 days (original design)'),
    ('core.readings',       NULL,              'government data is kept; rollups keep 2 years')
ON CONFLICT (table_name) DO NOTHING;

-- Grants: the writer writes everywhere; analysts read ref, core, mart (now and in future tables).
GRANT USAGE ON SCHEMA ref, raw, core, mart, ml, ops TO purehealth_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ref, raw, core, mart, ml, ops TO purehealth_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ops TO purehealth_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA ref, raw, core, mart, ml, ops
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO purehealth_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA ref, raw, core, mart, ml, ops
    GRANT USAGE, SELECT ON SEQUENCES TO purehealth_writer;
GRANT USAGE ON SCHEMA ref, core, mart TO purehealth_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA ref, core, mart TO purehealth_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA ref, core, mart GRANT SELECT ON TABLES TO purehealth_analyst;
