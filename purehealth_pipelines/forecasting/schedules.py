"""Forecasting jobs and schedules: features daily, models daily, backtests weekly, forecasts every 15 minutes
(live IoT stations) and daily (every other station)."""

import dagster as dg

from purehealth_pipelines.forecasting.assets import (
    ForecastConfig,
    forecast_backtests,
    forecast_features,
    forecast_models,
    forecasts,
)
from purehealth_pipelines.vocabulary import TIMEZONE

FORECASTS_OP = "mart__forecasts"  # op name Dagster derives from the asset key ["mart", "forecasts"]

features_job = dg.define_asset_job(
    "forecast_features_job", selection=[forecast_features], tags={"domain": "forecasting"}
)
training_job = dg.define_asset_job(
    "forecast_training_job", selection=[forecast_models], tags={"domain": "forecasting"}
)
backtest_job = dg.define_asset_job(
    "forecast_backtest_job", selection=[forecast_backtests], tags={"domain": "forecasting"}
)
live_forecast_job = dg.define_asset_job(
    "live_forecast_job",
    selection=[forecasts],
    config=dg.RunConfig(ops={FORECASTS_OP: ForecastConfig(station_group="live")}),
    tags={"domain": "forecasting"},
)
daily_forecast_job = dg.define_asset_job(
    "daily_forecast_job",
    selection=[forecasts],
    config=dg.RunConfig(ops={FORECASTS_OP: ForecastConfig(station_group="other")}),
    tags={"domain": "forecasting"},
)

features_schedule = dg.build_schedule_from_partitioned_job(features_job, hour_of_day=1, minute_of_hour=15)
training_schedule = dg.ScheduleDefinition(
    job=training_job, cron_schedule="30 1 * * *", execution_timezone=TIMEZONE,
    description="Retrain the forecast models daily on the trailing year (approved if they beat persistence).",
)  # fmt: skip
backtest_schedule = dg.ScheduleDefinition(
    job=backtest_job, cron_schedule="0 3 * * 0", execution_timezone=TIMEZONE,
    description="Weekly rolling-origin backtest (skill table in ml.backtests).",
)  # fmt: skip
live_forecast_schedule = dg.ScheduleDefinition(
    job=live_forecast_job, cron_schedule="*/15 * * * *", execution_timezone=TIMEZONE,
    description="Forecasts for the live IoT stations every 15 minutes.",
)  # fmt: skip
daily_forecast_schedule = dg.ScheduleDefinition(
    job=daily_forecast_job, cron_schedule="0 6 * * *", execution_timezone=TIMEZONE,
    description="Daily forecasts for every other station with recent hourly data.",
)  # fmt: skip

jobs = [features_job, training_job, backtest_job, live_forecast_job, daily_forecast_job]
schedules = [
    features_schedule,
    training_schedule,
    backtest_schedule,
    live_forecast_schedule,
    daily_forecast_schedule,
]
