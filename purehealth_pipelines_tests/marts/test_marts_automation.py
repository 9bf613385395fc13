"""The marts follow core.readings on their own: the marts' automation sensor requests today's partitions
once core/readings for today has been (re)materialised, e.g. by the live sensor's run."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from purehealth_pipelines import partitions
from purehealth_pipelines.marts.definitions import MART_ASSETS, marts_automation_sensor
from purehealth_pipelines.resources import WarehouseResource

CORE_READINGS = dg.AssetKey(["core", "readings"])
DAILY_MARTS = {
    dg.AssetKey(["mart", "readings_hourly"]),
    dg.AssetKey(["mart", "readings_daily"]),
    dg.AssetKey(["mart", "station_wqi_daily"]),
    dg.AssetKey(["mart", "alerts"]),
    dg.AssetKey(["mart", "station_status"]),
}


def test_marts_sensor_is_on_by_default_and_requests_todays_marts_after_core_readings_update() -> None:
    assert marts_automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING

    @dg.asset(key=CORE_READINGS, partitions_def=partitions.daily)
    def core_readings_stub() -> None:
        return None

    # mart/alerts also reads mart/forecasts (ignored for missing-ness); a stub keeps the graph whole.
    @dg.asset(key=["mart", "forecasts"])
    def forecasts_stub() -> None:
        return None

    # Evaluating conditions runs nothing: the resource is only there to make the definitions whole.
    defs = dg.Definitions(
        assets=[core_readings_stub, forecasts_stub, *MART_ASSETS],
        resources={"warehouse": WarehouseResource(url="postgresql://unused@127.0.0.1:1/unused")},
    )
    today = partitions.daily.get_partition_keys(current_time=datetime.now(UTC))[-1]
    selection = dg.AssetSelection.assets(*MART_ASSETS)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0  # nothing upstream yet: nothing to do
        assert dg.materialize([core_readings_stub], partition_key=today, instance=instance).success
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        requested = {
            (key, partition) for key in DAILY_MARTS for partition in second.get_requested_partitions(key)
        }
        assert requested == {(key, today) for key in DAILY_MARTS}
        third = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=second.cursor
        )
        assert third.total_requested == 0  # handled: not requested again until core/readings changes
