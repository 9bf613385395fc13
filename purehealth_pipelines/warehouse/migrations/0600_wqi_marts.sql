-- The water quality index at the grain the data allow (issue 13). See docs/warehouse.md.
--
-- No source gives DO, BOD, fecal coliform and pH for one station on one day except a lab sample, so the index
-- is computed per lab sampling event (mart.sample_wqi), summarised per month (MPCB's cadence) and per
-- financial year (April–March, as MPCB's "Water Quality Status of Maharashtra" reports), and the live
-- stations borrow BOD/FC from the latest lab sample of a co-located lab station (ref.stations).

-- Station relations and designations ------------------------------------------------------------------
ALTER TABLE ref.stations ADD COLUMN IF NOT EXISTS colocated_lab_station_id text;
ALTER TABLE ref.stations ADD COLUMN IF NOT EXISTS designated_best_use text
    CHECK (designated_best_use IS NULL OR designated_best_use IN ('A', 'B', 'C', 'D', 'E'));
COMMENT ON COLUMN ref.stations.colocated_lab_station_id IS
    'lab (grab-sample) station at the same site; a live station takes BOD/FC/TC from its latest sample';
COMMENT ON COLUMN ref.stations.designated_best_use IS
    'CPCB designated-best-use class the stretch must meet (A–E); NULL = not designated (the annual mart uses its default)';

-- One row per lab sampling event ------------------------------------------------------------------------
CREATE TABLE mart.sample_wqi (
    station_id                  text NOT NULL,
    sample_ts                   timestamptz NOT NULL,   -- core.readings.ts of the sample's readings
    source                      text NOT NULL,          -- core.readings.source (e.g. mpcb)
    do_mg_l                     double precision,       -- accepted inputs (good, or censored with a bound)
    bod_mg_l                    double precision,
    ph                          double precision,
    fc_mpn_100ml                double precision,
    tc_mpn_100ml                double precision,
    temp_c                      double precision,
    ec_us_cm                    double precision,
    do_sat_pct                  double precision,
    si_do                       double precision,
    si_fc                       double precision,
    si_ph                       double precision,
    si_bod                      double precision,
    wqi                         double precision,       -- NULL unless all four inputs were accepted
    wqi_label                   text,
    wqi_class                   text,
    missing_parameters          text,                   -- WQI inputs the sample lacks; NULL when complete
    excluded_inputs             text,                   -- inputs present but refused by QC, e.g. 'ph (qc_flag 4)'
    censored_inputs             text,                   -- e.g. 'fc_mpn_100ml>'
    best_use_class              text,
    best_use                    text,
    best_use_missing_parameters text,
    failed_criteria             text,
    used_parameters             text NOT NULL,          -- core.readings rows used: (station_id, parameter, sample_ts, source)
    do_saturation_method        text NOT NULL,
    computed_at                 timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, sample_ts, source)
);
SELECT create_hypertable('mart.sample_wqi', 'sample_ts', chunk_time_interval => interval '1 year');

-- Per station and IST month -----------------------------------------------------------------------------
CREATE TABLE mart.station_wqi_monthly (
    station_id         text NOT NULL,
    month              timestamptz NOT NULL,            -- IST midnight of the 1st
    samples            integer NOT NULL,
    samples_with_wqi   integer NOT NULL,
    wqi                double precision,                -- mean of the month's sample WQIs
    wqi_min            double precision,
    wqi_max            double precision,
    wqi_label          text,
    wqi_class          text,
    best_use_class     text,                            -- the worst decided class among the month's samples
    best_use           text,
    do_mg_l            double precision,                -- means of the month's accepted sample inputs
    bod_mg_l           double precision,
    ph                 double precision,
    fc_mpn_100ml       double precision,
    tc_mpn_100ml       double precision,
    missing_parameters text,                            -- union over the month's samples without a WQI
    censored_inputs    text,
    sources            text NOT NULL,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, month)
);
SELECT create_hypertable('mart.station_wqi_monthly', 'month', chunk_time_interval => interval '5 years');

-- Per station and financial year (April–March) ----------------------------------------------------------
CREATE TABLE mart.station_wqi_annual (
    station_id          text NOT NULL,
    fy_start            timestamptz NOT NULL,           -- IST midnight of 1 April
    financial_year      text NOT NULL,                  -- '2025-26'
    months_sampled      integer NOT NULL,
    samples             integer NOT NULL,
    samples_with_wqi    integer NOT NULL,
    wqi_mean            double precision,
    wqi_min             double precision,
    wqi_max             double precision,
    wqi_label           text,                           -- band of the mean
    wqi_class           text,
    samples_class_a     integer NOT NULL,               -- samples per WQI band
    samples_class_b     integer NOT NULL,
    samples_class_c     integer NOT NULL,
    samples_class_de    integer NOT NULL,
    designated_class    text NOT NULL,
    designation_source  text NOT NULL,                  -- 'ref.stations' or 'default'
    samples_exceeding   integer NOT NULL,               -- samples failing at least one criterion of that class
    exceedances         jsonb NOT NULL,                 -- {"bod_mg_l > 3": {"exceeded": 4, "measured": 12}, …}
    previous_wqi_mean   double precision,               -- the previous financial year, for better / worse
    previous_wqi_class  text,
    class_change        text,                           -- better / worse / same / NULL
    trend               text,                           -- increasing / decreasing / no trend / NULL (too short)
    trend_p_value       double precision,               -- seasonal Mann-Kendall
    trend_sen_slope     double precision,               -- seasonal Sen's slope, WQI points per year
    trend_tau           double precision,
    trend_years         integer NOT NULL,               -- financial years with data up to this one
    trend_note          text,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, fy_start)
);
SELECT create_hypertable('mart.station_wqi_annual', 'fy_start', chunk_time_interval => interval '10 years');

-- Live WQI: which lab sample BOD/FC/TC came from ---------------------------------------------------------
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS lab_station_id text;
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS lab_sample_ts timestamptz;
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS lab_sample_age_days double precision;
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS lab_inputs text;
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS lab_max_age_days double precision;
ALTER TABLE mart.station_wqi_daily ADD COLUMN IF NOT EXISTS wqi_note text;
COMMENT ON COLUMN mart.station_wqi_daily.wqi_note IS 'why wqi is NULL (missing inputs, stale or no lab sample)';

-- The analyst group reads every mart table (default privileges cover new tables; stated for clarity).
GRANT SELECT ON mart.sample_wqi, mart.station_wqi_monthly, mart.station_wqi_annual TO purehealth_analyst;
