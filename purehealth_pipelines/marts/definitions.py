"""Definitions of the marts domain (assembled by purehealth_pipelines.definitions).

Every mart declares `AutomationCondition.eager()` on core.readings, but a condition does nothing until a
sensor evaluates it, and Dagster's implicit default sensor starts switched off. The marts' own sensor starts
on, so rollups, WQI, station status and alerts follow the live readings (the live sensor refreshes today's
core/readings partition) without an operator having to find a toggle first; it can be switched off in the
UI like any sensor. The lab-sample WQI marts and the report have their own 10-minute sensor.
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

# The lab-sample WQI marts and the annual report follow government publications (monthly at best), not the
# live minute: their own, slower sensor keeps them off the live path's 30-second ticks.
WQI_REPORT = dg.AssetKey(["reports", "water_quality_status"])
wqi_automation_sensor = dg.AutomationConditionSensorDefinition(
    "wqi_automation_sensor",
    target=dg.AssetSelection.assets(*WQI_ASSETS) | dg.AssetSelection.assets(WQI_REPORT),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=600,
    description=(
        "Evaluates the automation conditions of the lab-sample WQI marts (per sample, month, financial year) "
        "and the annual report every 10 minutes."
    ),
)

defs = dg.Definitions(
    assets=[*MART_ASSETS, *WQI_ASSETS], sensors=[marts_automation_sensor, wqi_automation_sensor]
)
