"""The station registry and its asset, against the real warehouse."""

from __future__ import annotations

import dagster as dg

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.assets import stations
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.warehouse.jobs import warehouse_maintenance


def test_registry_has_real_maharashtra_stations_with_stable_ids() -> None:
    registry = load_registry()
    assert registry["station_id"].is_unique
    # MPCB's golden WQI case is NWMP station 1153 (Krishna at Rajapur weir).
    rajapur = registry.set_index("station_id").loc["NWMP-1153"]
    assert "KRISHNA" in rajapur["name"].upper() and rajapur["network"] == "NWMP"
    cwc = registry[registry["network"] == "CWC"]
    assert len(cwc) >= 30
    assert cwc["latitude"].between(15.5, 22.2).all() and cwc["longitude"].between(72.5, 81).all()
    live = registry[registry["network"] == "IOT"]
    assert len(live) >= 10 and live["latitude"].notna().all()


def test_stations_asset_replaces_the_table_and_reports_metadata(warehouse: WarehouseResource) -> None:
    for _ in range(2):
        result = dg.materialize([stations], resources={"warehouse": warehouse})
        assert result.success
    metadata = result.asset_materializations_for_node("ref__stations")[0].metadata
    expected = len(load_registry())
    assert metadata["dagster/row_count"].value == expected
    assert "dagster/column_schema" in metadata
    assert warehouse.read_frame("SELECT count(*) AS n FROM ref.stations")["n"].iloc[0] == expected


def test_maintenance_job_runs_against_the_warehouse(warehouse: WarehouseResource) -> None:
    result = warehouse_maintenance.execute_in_process(resources={"warehouse": warehouse})
    assert result.success
