"""The five source assets in demo mode against a real (scratch) warehouse: rows land, re-runs replace,
dead letters are replaced with their partition, a failing write leaves the previous partition intact."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import psycopg
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.sources.assets import ASSETS
from purehealth_pipelines.sources.commit import commit_source_window
from purehealth_pipelines.sources.resources import EarthEngineResource, GovSourcesResource

CASES = [
    (ASSETS["cpcb_nwmp"], "2023", "raw.cpcb_nwmp", "cpcb_nwmp"),
    (ASSETS["mpcb_monthly"], "2024-07-01", "raw.mpcb_monthly", "mpcb"),
    (ASSETS["cwc_river_levels"], "2024-07-10", "raw.cwc_river_levels", "cwc"),
    (ASSETS["imd_rainfall"], "2024-07-10", "raw.imd_rainfall", "imd"),
    (ASSETS["satellite_indices"], "2024-03-03", "raw.satellite_indices", "satellite"),
]


def count(url: str, query: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


@pytest.fixture(scope="module")
def resources(module_warehouse_url: str, tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    return {
        "warehouse": WarehouseResource(url=module_warehouse_url),
        "gov_sources": GovSourcesResource(mode="demo", demo_seed=3, cache_dir=str(cache)),
        "earth_engine": EarthEngineResource(mode="demo", demo_seed=3),
    }


@pytest.mark.parametrize(("asset", "partition", "table", "source"), CASES, ids=[c[2] for c in CASES])
def test_materialize_twice_gives_the_same_rows(
    asset, partition, table, source, resources, module_warehouse_url
):
    first = dg.materialize([asset], partition_key=partition, resources=resources)
    assert first.success
    rows_1 = count(module_warehouse_url, f"SELECT count(*) FROM {table}")
    dead_1 = count(module_warehouse_url, "SELECT count(*) FROM ops.dead_letters WHERE source = %s", source)
    assert rows_1 > 0
    meta = first.asset_materializations_for_node(asset.op.name)[0].metadata
    assert meta["dagster/row_count"].value == rows_1
    assert "dagster/column_schema" in meta and "dead_letters" in meta
    second = dg.materialize([asset], partition_key=partition, resources=resources)
    assert second.success
    assert count(module_warehouse_url, f"SELECT count(*) FROM {table}") == rows_1
    assert (
        count(module_warehouse_url, "SELECT count(*) FROM ops.dead_letters WHERE source = %s", source)
        == dead_1
    )
    if source in ("cpcb_nwmp", "mpcb", "cwc"):
        assert dead_1 > 0  # the demo publishers inject dirt, and it is dead-lettered with a reason


def test_gx_check_runs_on_the_partition(resources, module_warehouse_url):
    from purehealth_pipelines.sources.checks import CHECKS

    result = dg.materialize(
        [ASSETS["imd_rainfall"], CHECKS["imd_rainfall"]], partition_key="2024-07-11", resources=resources
    )
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1 and evaluations[0].passed, evaluations[0].metadata


def test_gx_suite_fails_on_bad_data():
    from purehealth_pipelines.sources.checks import validate_frame
    from purehealth_pipelines.sources.publishers import PUBLISHERS

    frame = pd.DataFrame(
        {
            "station_id": ["A", "A"],
            "parameter": ["ph", "ph"],
            "unit": ["pH units"] * 2,
            "statistic": ["min", "min"],
            "value": [7.0, 19.0],
            "censored": [None, None],
            "ts": pd.to_datetime(["2023-01-01", "2023-01-01"], utc=True),
        }
    )
    ok, summaries = validate_frame(frame, PUBLISHERS["cpcb_nwmp"].suite)
    failed = {s["expectation"] for s in summaries if not s["success"]}
    assert not ok and {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_between"} <= failed


def test_a_failing_partition_write_leaves_the_previous_rows(resources, module_warehouse_url):
    warehouse = resources["warehouse"]
    start, end = pd.Timestamp("2024-08-01", tz="Asia/Kolkata"), pd.Timestamp("2024-08-02", tz="Asia/Kolkata")
    good = pd.DataFrame(
        {
            "station_id": ["CWC-KARAD"],
            "parameter": ["water_level_m"],
            "ts": [start],
            "value": [1.0],
            "unit": ["m"],
            "station_code": ["X"],
        }
    )
    commit_source_window(
        warehouse,
        table="raw.cwc_river_levels",
        source="cwc-test",
        rows=good,
        dead_letters=pd.DataFrame(),
        window_start=start,
        window_end=end,
    )
    bad = good.assign(parameter=["not_a_parameter"])  # violates the table's CHECK: the COPY fails mid-commit
    dead = pd.DataFrame(
        {
            "source": ["cwc-test"],
            "origin": ["x"],
            "payload": ["p"],
            "reason": ["r"],
            "details": ['{"partition_ts": "2024-07-31T18:30:00+00:00"}'],
        }
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        commit_source_window(
            warehouse,
            table="raw.cwc_river_levels",
            source="cwc-test",
            rows=bad,
            dead_letters=dead,
            window_start=start,
            window_end=end,
        )
    q = "SELECT count(*) FROM raw.cwc_river_levels WHERE station_id = 'CWC-KARAD' AND ts >= %s AND ts < %s"
    assert count(module_warehouse_url, q, start, end) == 1
    assert count(module_warehouse_url, "SELECT count(*) FROM ops.dead_letters WHERE source = 'cwc-test'") == 0


REAL_NWMP = settings.shared_data_dir() / "cpcb_nwmp_river_2012_2023.csv"


@pytest.mark.skipif(not REAL_NWMP.exists(), reason=f"real NWMP compilation not present at {REAL_NWMP}")
def test_cli_ingests_the_real_nwmp_file_idempotently(module_warehouse_url, capsys):
    from purehealth_pipelines.cli import main

    args = ["ingest", "cpcb-nwmp", str(REAL_NWMP), "--url", module_warehouse_url, "-q"]
    assert main(args) == 0
    rows = count(
        module_warehouse_url, "SELECT count(*) FROM raw.cpcb_nwmp WHERE source_file = %s", REAL_NWMP.name
    )
    dead = count(module_warehouse_url, "SELECT count(*) FROM ops.dead_letters WHERE source = 'cpcb_nwmp'")
    assert rows > 10_000 and dead > 0
    assert main(args) == 0
    assert (
        count(
            module_warehouse_url, "SELECT count(*) FROM raw.cpcb_nwmp WHERE source_file = %s", REAL_NWMP.name
        )
        == rows
    )
    assert (
        count(module_warehouse_url, "SELECT count(*) FROM ops.dead_letters WHERE source = 'cpcb_nwmp'")
        == dead
    )
    assert "dead-lettered" in capsys.readouterr().out
