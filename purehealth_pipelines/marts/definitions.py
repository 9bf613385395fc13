"""Definitions of the marts domain (assembled by purehealth_pipelines.definitions).

Every mart declares `AutomationCondition.eager()` on core.readings, but a condition does nothing until a
sensor evaluates it, and Dagster's implicit default sensor starts switched off. The marts' own sensor starts
on, so rollups, WQI, station status and alerts follow the live readings (the live sensor refreshes today's
core/readings partition) without an operator having to find a toggle first; it can be switched off in the
UI like any sensor.
"""

import dagster as dg

from purehealth_pipelines.marts.assets import (
    alerts_asset,
    readings_daily,
    readings_hourly,
    readings_weekly,
    station_status_asset,
    station_wqi_daily_asset,
)
from purehealth_pipelines.marts.wqi_assets import WQI_ASSETS

MART_ASSETS = [
    readings_hourly,
    readings_daily,
    readings_weekly,
    station_wqi_daily_asset,
    *WQI_ASSETS,
    alerts_asset,
    station_status_asset,
]

marts_automation_sensor = dg.AutomationConditionSensorDefinition(
    "marts_automation_sensor",
    target=dg.AssetSelection.assets(*MART_ASSETS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Not 60 s: the live sensor also ticks once a minute, and eager() waits while core/readings has a run in
    # progress; two 60 s ticks in phase starved the marts (seen in the demo). 30 s ticks always find a gap.
    minimum_interval_seconds=30,
    description="Evaluates the marts' automation conditions (eager on core.readings) every 30 seconds.",
)

defs = dg.Definitions(assets=MART_ASSETS, sensors=[marts_automation_sensor])
