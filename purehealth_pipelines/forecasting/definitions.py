"""Definitions of the forecasting domain (assembled by purehealth_pipelines.definitions)."""

import dagster as dg

from purehealth_pipelines.forecasting.assets import (
    forecast_backtests,
    forecast_features,
    forecast_models,
    forecasts,
)
from purehealth_pipelines.forecasting.schedules import jobs, schedules

defs = dg.Definitions(
    assets=[forecast_features, forecast_models, forecast_backtests, forecasts],
    jobs=jobs,
    schedules=schedules,
)
