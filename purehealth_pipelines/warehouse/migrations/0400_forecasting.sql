-- Forecasting (issue #6): stored features, the model registry, backtests, forecasts and forecast alerts.

-- Forecast features per (station, parameter, origin ts), hourly; written per daily partition by
-- ml/forecast_features. ts = the forecast origin = end of the last complete hour (purehealth_pipelines/
-- forecasting/features.py: every column uses only data available at ts, except the target_* columns,
-- which are the observed values at ts + h and are blank until observed).
CREATE TABLE ml.forecast_features (
    station_id           text NOT NULL,
    parameter            text NOT NULL,
    ts                   timestamptz NOT NULL,
    last_value           double precision,
    age_h                double precision,
    lag_1h               double precision,
    lag_2h               double precision,
    lag_3h               double precision,
    lag_6h               double precision,
    lag_12h              double precision,
    lag_18h              double precision,
    lag_23h              double precision,
    lag_24h              double precision,
    lag_48h              double precision,
    lag_168h             double precision,
    roll_mean_6h         double precision,
    roll_std_6h          double precision,
    roll_mean_24h        double precision,
    roll_std_24h         double precision,
    roll_mean_168h       double precision,
    roll_std_168h        double precision,
    roll_min_24h         double precision,
    roll_max_24h         double precision,
    diff_1h              double precision,
    diff_24h             double precision,
    hour_local           double precision,
    doy_sin              double precision,
    doy_cos              double precision,
    month                double precision,
    monsoon              double precision,
    rain_1d_mm           double precision,
    rain_3d_mm           double precision,
    water_level_m        double precision,
    discharge_m3_s       double precision,
    ndwi                 double precision,
    ndti                 double precision,
    ndci                 double precision,
    chl_a_mg_m3          double precision,
    satellite_age_d      double precision,
    target_1h            double precision,
    target_6h            double precision,
    target_24h           double precision,
    UNIQUE (station_id, parameter, ts)
);
SELECT create_hypertable('ml.forecast_features', 'ts', chunk_time_interval => interval '30 days');

-- The model registry: one row per booster (parameter x horizon x quantile) of a training run (version).
-- The forecast asset uses, per parameter, the newest version whose status is 'approved'.
CREATE TABLE ml.models (
    model_id      bigserial PRIMARY KEY,
    version       text NOT NULL,                -- training run id, e.g. '20240601T000000Z'
    parameter     text NOT NULL,
    horizon_h     integer NOT NULL CHECK (horizon_h > 0),
    quantile      double precision NOT NULL CHECK (quantile > 0 AND quantile < 1),
    status        text NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'approved', 'retired')),
    model_text    text NOT NULL,                -- LightGBM Booster.model_to_string()
    model_sha256  text NOT NULL,
    features      jsonb NOT NULL,               -- feature names in model order
    params        jsonb NOT NULL,               -- LightGBM parameters + num_boost_round
    interval_adjustment double precision,       -- conformal widening of P10/P90 for this horizon
    train_start   timestamptz,
    train_end     timestamptz,
    train_rows    bigint,
    train_stations integer,
    metrics       jsonb,                        -- hold-out scores of this parameter/horizon
    trained_at    timestamptz NOT NULL DEFAULT now(),
    approved_at   timestamptz,
    UNIQUE (version, parameter, horizon_h, quantile)
);
CREATE INDEX ON ml.models (parameter, status, trained_at DESC);

-- Rolling-origin backtest scores per run, parameter and horizon.
CREATE TABLE ml.backtests (
    run_id                  text NOT NULL,
    parameter               text NOT NULL,
    horizon_h               integer NOT NULL,
    n                       integer NOT NULL,
    mae                     double precision,
    rmse                    double precision,
    mae_persistence         double precision,
    rmse_persistence        double precision,
    mae_seasonal_naive      double precision,
    skill_vs_persistence    double precision,   -- 1 - MAE / MAE(persistence)
    skill_vs_seasonal_naive double precision,
    coverage_p10_p90        double precision,   -- nominal 0.80
    mean_interval_width     double precision,
    n_folds                 integer,
    fold_hours              integer,
    window_start            timestamptz,
    window_end              timestamptz,
    evaluated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, parameter, horizon_h)
);

-- Forecasts: one row per station, parameter, issue time and horizon. issued_at = the run's 15-minute (live)
-- or daily slot; origin_ts = end of the last complete hour the features saw; ts = origin_ts + horizon.
CREATE TABLE mart.forecasts (
    station_id     text NOT NULL,
    parameter      text NOT NULL,
    issued_at      timestamptz NOT NULL,
    horizon_h      integer NOT NULL,
    ts             timestamptz NOT NULL,
    origin_ts      timestamptz NOT NULL,
    p10            double precision,
    p50            double precision,
    p90            double precision,
    station_group  text NOT NULL CHECK (station_group IN ('live', 'other')),
    model_version  text NOT NULL,
    UNIQUE (station_id, parameter, issued_at, horizon_h)
);
SELECT create_hypertable('mart.forecasts', 'issued_at', chunk_time_interval => interval '7 days');
CREATE INDEX ON mart.forecasts (station_id, parameter, ts DESC);

-- Forecast alerts: a forecast whose P50 crosses a CPCB criterion (water_quality.md §1).
CREATE TABLE mart.forecast_alerts (
    station_id     text NOT NULL,
    parameter      text NOT NULL,
    rule           text NOT NULL,               -- 'do_p50_below_4', 'ph_p50_below_6_5', 'ph_p50_above_8_5'
    threshold      double precision NOT NULL,
    issued_at      timestamptz NOT NULL,
    horizon_h      integer NOT NULL,
    forecast_ts    timestamptz NOT NULL,
    p10            double precision,
    p50            double precision,
    p90            double precision,
    station_group  text NOT NULL,
    model_version  text NOT NULL,
    UNIQUE (station_id, parameter, rule, issued_at, horizon_h)
);
SELECT create_hypertable('mart.forecast_alerts', 'issued_at', chunk_time_interval => interval '30 days');

INSERT INTO ops.retention_policies (table_name, keep, note) VALUES
    ('mart.forecasts', interval '400 days', 'forecasts: keep a year+ for forecast-vs-actual review'),
    ('ml.forecast_features', interval '400 days', 'features are recomputable from core.readings')
ON CONFLICT (table_name) DO NOTHING;
