-- Raw tables of the government and satellite sources: as delivered, typed, one per source. All share the
-- long reading columns (station_id, parameter, ts, value, unit, censored) so core.readings can unify them
-- with one query per source; source-specific columns follow. Hypertables on ts, unique keys make every
-- partition write idempotent.

-- CPCB NWMP yearly tables: annual min and max per parameter; ts = 1 January (IST) of the year.
CREATE TABLE raw.cpcb_nwmp (
    station_id   text NOT NULL,
    parameter    text NOT NULL,
    ts           timestamptz NOT NULL,
    statistic    text NOT NULL CHECK (statistic IN ('min', 'max', 'mean')),
    value        double precision,
    unit         text NOT NULL,
    censored     text CHECK (censored IN ('<', '>')),
    station_code text NOT NULL,
    year         smallint NOT NULL,
    location     text,
    raw_value    text,                          -- the cell as published ('BDL', '<2', '16000')
    source_file  text,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, statistic, ts)
);
SELECT create_hypertable('raw.cpcb_nwmp', 'ts', chunk_time_interval => interval '5 years');

-- MPCB monthly station tables (pH, BOD, DO, total coliform by month); ts = first day of the month (IST).
CREATE TABLE raw.mpcb_monthly (
    station_id     text NOT NULL,
    parameter      text NOT NULL,
    ts             timestamptz NOT NULL,
    value          double precision,
    unit           text NOT NULL,
    censored       text CHECK (censored IN ('<', '>')),
    station_code   text NOT NULL,
    regional_office text,
    frequency      text,
    raw_value      text,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts)
);
SELECT create_hypertable('raw.mpcb_monthly', 'ts', chunk_time_interval => interval '1 year');

-- CWC / India-WRIS river water level and discharge.
CREATE TABLE raw.cwc_river_levels (
    station_id   text NOT NULL,
    parameter    text NOT NULL CHECK (parameter IN ('water_level_m', 'discharge_m3_s')),
    ts           timestamptz NOT NULL,
    value        double precision,
    unit         text NOT NULL,
    censored     text CHECK (censored IN ('<', '>')),
    station_code text NOT NULL,
    latitude     double precision,
    longitude    double precision,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts)
);
SELECT create_hypertable('raw.cwc_river_levels', 'ts', chunk_time_interval => interval '30 days');

-- IMD gridded daily rainfall (0.25°) and temperature (1°), interpolated to stations; ts = the IMD day (IST).
CREATE TABLE raw.imd_rainfall (
    station_id   text NOT NULL,
    parameter    text NOT NULL CHECK (parameter IN ('rainfall_mm', 'tmax_c', 'tmin_c')),
    ts           timestamptz NOT NULL,
    value        double precision,
    unit         text NOT NULL,
    censored     text CHECK (censored IN ('<', '>')),
    method       text NOT NULL,                 -- 'bilinear' or 'nearest'
    grid_cells   smallint,                      -- valid cells used (of 4 for bilinear)
    provisional  boolean NOT NULL DEFAULT false,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts)
);
SELECT create_hypertable('raw.imd_rainfall', 'ts', chunk_time_interval => interval '90 days');

-- Earth Engine water-quality indices over a buffer around each station; ts = the scene's acquisition time.
CREATE TABLE raw.satellite_indices (
    station_id   text NOT NULL,
    parameter    text NOT NULL CHECK (parameter IN ('ndwi', 'mndwi', 'ndti', 'ndci', 'chl_a_mg_m3')),
    ts           timestamptz NOT NULL,
    value        double precision,
    unit         text NOT NULL,
    censored     text CHECK (censored IN ('<', '>')),
    platform     text NOT NULL,                 -- 'sentinel2', 'landsat8', 'landsat9'
    scene_id     text,
    pixel_count  integer,                       -- clear water pixels in the buffer: thin reductions are suspect
    buffer_m     integer,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, parameter, ts, platform)
);
SELECT create_hypertable('raw.satellite_indices', 'ts', chunk_time_interval => interval '90 days');
