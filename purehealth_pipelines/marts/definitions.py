"""Definitions of the marts domain (assembled by purehealth_pipelines.definitions)."""

import dagster as dg

from purehealth_pipelines.marts.assets import (
    alerts_asset,
    readings_daily,
    readings_hourly,
    readings_weekly,
    station_status_asset,
    station_wqi_daily_asset,
)

defs = dg.Definitions(
    assets=[
        readings_hourly,
        readings_daily,
        readings_weekly,
        station_wqi_daily_asset,
        alerts_asset,
        station_status_asset,
    ]
)
