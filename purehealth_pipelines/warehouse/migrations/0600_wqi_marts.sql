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

-- Column descriptions (the one home of them, as migration 0530: psql \d+, BI tools, Dagster's schemas) ----
COMMENT ON COLUMN mart.sample_wqi.station_id IS 'ref.stations.station_id';
COMMENT ON COLUMN mart.sample_wqi.sample_ts IS 'time of the sampling event (core.readings.ts of its readings)';
COMMENT ON COLUMN mart.sample_wqi.source IS 'core.readings.source of the lab readings (mpcb)';
COMMENT ON COLUMN mart.sample_wqi.do_mg_l IS 'accepted DO input (mg/L): good, or censored with a bound; NULL = not accepted';
COMMENT ON COLUMN mart.sample_wqi.bod_mg_l IS 'accepted BOD input (mg/L)';
COMMENT ON COLUMN mart.sample_wqi.ph IS 'accepted pH input';
COMMENT ON COLUMN mart.sample_wqi.fc_mpn_100ml IS 'accepted fecal coliform input (MPN/100 mL; a censored ">1600" as 1600)';
COMMENT ON COLUMN mart.sample_wqi.tc_mpn_100ml IS 'accepted total coliform (MPN/100 mL), for the best-use class';
COMMENT ON COLUMN mart.sample_wqi.temp_c IS 'accepted water temperature (°C)';
COMMENT ON COLUMN mart.sample_wqi.ec_us_cm IS 'accepted conductivity (µS/cm), for the best-use class';
COMMENT ON COLUMN mart.sample_wqi.do_sat_pct IS 'DO % saturation (method in do_saturation_method)';
COMMENT ON COLUMN mart.sample_wqi.si_do IS 'DO sub-index (not capped)';
COMMENT ON COLUMN mart.sample_wqi.si_fc IS 'fecal coliform sub-index';
COMMENT ON COLUMN mart.sample_wqi.si_ph IS 'pH sub-index (not capped)';
COMMENT ON COLUMN mart.sample_wqi.si_bod IS 'BOD sub-index';
COMMENT ON COLUMN mart.sample_wqi.wqi IS 'CPCB/MPCB NSF-based WQI 0–100; NULL unless DO, BOD, FC and pH were all accepted';
COMMENT ON COLUMN mart.sample_wqi.wqi_label IS 'Good to Excellent / Medium to Good / Bad / Bad to Very Bad';
COMMENT ON COLUMN mart.sample_wqi.wqi_class IS 'WQI band letter: A ≥ 63, B 50–63, C 38–50, D/E < 38';
COMMENT ON COLUMN mart.sample_wqi.missing_parameters IS 'WQI inputs this sample lacks (why no WQI); NULL when complete';
COMMENT ON COLUMN mart.sample_wqi.excluded_inputs IS 'inputs present but refused: QC flag bad/missing, or censored without a bound';
COMMENT ON COLUMN mart.sample_wqi.censored_inputs IS 'accepted inputs that were censored lab values, e.g. fc_mpn_100ml>';
COMMENT ON COLUMN mart.sample_wqi.best_use_class IS 'CPCB designated-best-use class A–E / Below-E; NULL = undecidable';
COMMENT ON COLUMN mart.sample_wqi.best_use IS 'the use the best-use class protects';
COMMENT ON COLUMN mart.sample_wqi.best_use_missing_parameters IS 'what would have to be measured to decide the best-use class';
COMMENT ON COLUMN mart.sample_wqi.failed_criteria IS 'why not one best-use class better';
COMMENT ON COLUMN mart.sample_wqi.used_parameters IS 'the core.readings rows used: (station_id, parameter in this list, ts = sample_ts, source)';
COMMENT ON COLUMN mart.sample_wqi.do_saturation_method IS 'fixed (DO / 6.5, as MPCB) or temperature';
COMMENT ON COLUMN mart.sample_wqi.computed_at IS 'when the row was computed';

COMMENT ON COLUMN mart.station_wqi_monthly.station_id IS 'ref.stations.station_id';
COMMENT ON COLUMN mart.station_wqi_monthly.month IS 'IST midnight of the 1st of the month';
COMMENT ON COLUMN mart.station_wqi_monthly.samples IS 'lab sampling events in the month';
COMMENT ON COLUMN mart.station_wqi_monthly.samples_with_wqi IS 'of which had all four WQI inputs';
COMMENT ON COLUMN mart.station_wqi_monthly.wqi IS 'mean of the month''s sample WQIs (one sample a month at MPCB stations)';
COMMENT ON COLUMN mart.station_wqi_monthly.wqi_min IS 'lowest sample WQI of the month';
COMMENT ON COLUMN mart.station_wqi_monthly.wqi_max IS 'highest sample WQI of the month';
COMMENT ON COLUMN mart.station_wqi_monthly.wqi_label IS 'band label of wqi';
COMMENT ON COLUMN mart.station_wqi_monthly.wqi_class IS 'band letter of wqi: A, B, C, D/E';
COMMENT ON COLUMN mart.station_wqi_monthly.best_use_class IS 'worst decided best-use class among the month''s samples';
COMMENT ON COLUMN mart.station_wqi_monthly.best_use IS 'the use that class protects';
COMMENT ON COLUMN mart.station_wqi_monthly.do_mg_l IS 'mean accepted DO of the month''s samples (mg/L)';
COMMENT ON COLUMN mart.station_wqi_monthly.bod_mg_l IS 'mean accepted BOD (mg/L)';
COMMENT ON COLUMN mart.station_wqi_monthly.ph IS 'mean accepted pH';
COMMENT ON COLUMN mart.station_wqi_monthly.fc_mpn_100ml IS 'mean accepted fecal coliform (MPN/100 mL)';
COMMENT ON COLUMN mart.station_wqi_monthly.tc_mpn_100ml IS 'mean accepted total coliform (MPN/100 mL)';
COMMENT ON COLUMN mart.station_wqi_monthly.missing_parameters IS 'union of the missing inputs of the month''s samples without a WQI';
COMMENT ON COLUMN mart.station_wqi_monthly.censored_inputs IS 'union of the censored inputs used';
COMMENT ON COLUMN mart.station_wqi_monthly.sources IS 'lab sources of the samples';
COMMENT ON COLUMN mart.station_wqi_monthly.computed_at IS 'when the row was computed';

COMMENT ON COLUMN mart.station_wqi_annual.station_id IS 'ref.stations.station_id';
COMMENT ON COLUMN mart.station_wqi_annual.fy_start IS 'IST midnight of 1 April starting the financial year';
COMMENT ON COLUMN mart.station_wqi_annual.financial_year IS 'MPCB''s label, e.g. 2025-26';
COMMENT ON COLUMN mart.station_wqi_annual.months_sampled IS 'distinct months with a lab sample';
COMMENT ON COLUMN mart.station_wqi_annual.samples IS 'lab sampling events in the year';
COMMENT ON COLUMN mart.station_wqi_annual.samples_with_wqi IS 'of which had a WQI';
COMMENT ON COLUMN mart.station_wqi_annual.wqi_mean IS 'mean of the year''s sample WQIs (MPCB''s annual WQI)';
COMMENT ON COLUMN mart.station_wqi_annual.wqi_min IS 'lowest sample WQI of the year';
COMMENT ON COLUMN mart.station_wqi_annual.wqi_max IS 'highest sample WQI of the year';
COMMENT ON COLUMN mart.station_wqi_annual.wqi_label IS 'band label of wqi_mean';
COMMENT ON COLUMN mart.station_wqi_annual.wqi_class IS 'band letter of wqi_mean: A, B, C, D/E';
COMMENT ON COLUMN mart.station_wqi_annual.samples_class_a IS 'samples in WQI band A (≥ 63)';
COMMENT ON COLUMN mart.station_wqi_annual.samples_class_b IS 'samples in WQI band B (50–63)';
COMMENT ON COLUMN mart.station_wqi_annual.samples_class_c IS 'samples in WQI band C (38–50)';
COMMENT ON COLUMN mart.station_wqi_annual.samples_class_de IS 'samples in WQI band D/E (< 38)';
COMMENT ON COLUMN mart.station_wqi_annual.designated_class IS 'CPCB class whose criteria the exceedances count against';
COMMENT ON COLUMN mart.station_wqi_annual.designation_source IS 'ref.stations, or default (class C) where the stretch has no designation';
COMMENT ON COLUMN mart.station_wqi_annual.samples_exceeding IS 'samples failing at least one criterion of the designated class';
COMMENT ON COLUMN mart.station_wqi_annual.exceedances IS 'per criterion of the designated class: {"exceeded": samples over it, "measured": samples measuring it}';
COMMENT ON COLUMN mart.station_wqi_annual.previous_wqi_mean IS 'wqi_mean of the previous financial year';
COMMENT ON COLUMN mart.station_wqi_annual.previous_wqi_class IS 'its band letter';
COMMENT ON COLUMN mart.station_wqi_annual.class_change IS 'band of the mean vs the previous financial year: better / worse / same';
COMMENT ON COLUMN mart.station_wqi_annual.trend IS 'seasonal Mann-Kendall over all financial years so far: increasing / decreasing / no trend; NULL = too few years';
COMMENT ON COLUMN mart.station_wqi_annual.trend_p_value IS 'two-sided p-value of the seasonal Mann-Kendall test';
COMMENT ON COLUMN mart.station_wqi_annual.trend_sen_slope IS 'seasonal Sen''s slope, WQI points per year';
COMMENT ON COLUMN mart.station_wqi_annual.trend_tau IS 'Kendall''s tau of the seasonal test';
COMMENT ON COLUMN mart.station_wqi_annual.trend_years IS 'financial years with data up to this one';
COMMENT ON COLUMN mart.station_wqi_annual.trend_note IS 'what was tested, or why there is no verdict';
COMMENT ON COLUMN mart.station_wqi_annual.computed_at IS 'when the row was computed';

COMMENT ON COLUMN mart.station_wqi_daily.lab_station_id IS 'station whose lab sample lent BOD/FC/TC (itself or its co-located lab station)';
COMMENT ON COLUMN mart.station_wqi_daily.lab_sample_ts IS 'time of that lab sample';
COMMENT ON COLUMN mart.station_wqi_daily.lab_sample_age_days IS 'days between the lab sample and the start of the IST day';
COMMENT ON COLUMN mart.station_wqi_daily.lab_inputs IS 'inputs taken from the lab sample, e.g. bod_mg_l,fc_mpn_100ml';
COMMENT ON COLUMN mart.station_wqi_daily.lab_max_age_days IS 'oldest lab sample the day could borrow from (asset config)';
