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


def test_every_station_has_a_location_and_says_how_good_it_is() -> None:
    """Issue 14: published coordinates are kept; derived ones are marked approximate with an uncertainty."""
    registry = load_registry().set_index("station_id")
    assert (registry.loc[registry["network"] == "CWC", "location_source"] == "agency").all()
    located = registry[registry["location_source"] != "unknown"]
    assert len(located) >= 0.95 * len(registry)
    assert located["latitude"].between(15.5, 22.2).all() and located["longitude"].between(72.5, 81).all()
    assert located["location_uncertainty_km"].gt(0).all() and located["location_detail"].str.len().gt(0).all()
    # A village matched in the gazetteer: Daund (Pune district), ~75 km east of Pune city.
    daund = registry.loc["NWMP-1192"]
    assert daund["location_source"] == "gazetteer" and "Daund" in daund["location_detail"]
    assert abs(daund["latitude"] - 18.46) < 0.05 and abs(daund["longitude"] - 74.58) < 0.05
    only_district = registry[registry["location_source"] == "district"]
    assert only_district["location_uncertainty_km"].gt(20).all()  # a district is tens of km across


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
