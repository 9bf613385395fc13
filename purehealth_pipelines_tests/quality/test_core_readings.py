"""core.readings end to end on the real TimescaleDB: raw tables -> unify -> QARTOD -> partition write."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from purehealth_pipelines.quality.assets import core_readings
from purehealth_pipelines.quality.checks import validate_core_readings
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_window
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import copy_frame
from purehealth_pipelines_tests.quality.synthetic import DAY, sensor_frame
from realtime_bridge.writer import copy_readings

CONFIG = load_config()
END = DAY + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def wh(module_warehouse_url: str) -> WarehouseResource:
    warehouse = WarehouseResource(url=module_warehouse_url)
    spike = sensor_frame("IOT-T-SPIKE", seed=1)
    spike.loc[(spike["parameter"] == "do_mg_l") & (spike["ts"] == DAY + pd.Timedelta(hours=10)), "value"] += 4
    gap = sensor_frame("IOT-T-GAP", seed=2)
    gap = gap[~((gap["ts"] >= DAY + pd.Timedelta(hours=8)) & (gap["ts"] < DAY + pd.Timedelta(hours=10)))]
    clean = sensor_frame("IOT-T-CLEAN", seed=3)
    sensors = pd.concat([spike, gap, clean], ignore_index=True)
    nwmp = pd.DataFrame(
        {
            "station_id": "NWMP-T-1",
            "parameter": ["bod_mg_l", "bod_mg_l", "ec_us_cm"],
            "ts": DAY + pd.Timedelta(hours=0),
            "statistic": ["min", "max", "max"],
            "value": [1.4, 4.8, 2.1],
            "unit": ["mg/l", "mg/l", "mS/cm"],
            "station_code": "T1",
            "year": 2024,
        }
    )
    mpcb = pd.DataFrame(
        {
            "station_id": "IOT-T-CLEAN",
            "parameter": ["ph", "bod_mg_l", "tc_mpn_100ml"],
            "ts": DAY + pd.Timedelta(hours=10),  # same instant as a sensor pH reading: IoT preferred
            "value": [7.1, 2.2, 1600.0],
            "unit": ["pH", "mg/L", "MPN/100ml"],
            "censored": [None, None, ">"],
            "station_code": "T1",
        }
    )
    bad_unit = pd.DataFrame(  # a lab sheet with a unit nobody can convert (the bridge validates its own)
        {
            "station_id": "IOT-T-CLEAN",
            "parameter": ["do_mg_l"],
            "ts": [DAY + pd.Timedelta(minutes=7)],
            "value": [6.0],
            "unit": ["furlongs"],
            "censored": [None],
            "station_code": "T1",
        }
    )
    with warehouse.connect() as conn, conn.cursor() as cur:
        copy_readings(cur, sensors)
        copy_frame(cur, "raw.cpcb_nwmp", nwmp)
        copy_frame(cur, "raw.mpcb_monthly", pd.concat([mpcb, bad_unit], ignore_index=True))
    score_window(warehouse, DAY, END, CONFIG)
    return warehouse


def _readings(wh: WarehouseResource, where: str = "TRUE") -> pd.DataFrame:
    with wh.connect() as conn:
        return read_frame(
            conn, f"SELECT * FROM core.readings WHERE {where} ORDER BY station_id, parameter, ts"
        )


def test_window_rows_only_and_flags(wh: WarehouseResource) -> None:
    frame = _readings(wh)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    assert frame["ts"].min() >= DAY and frame["ts"].max() < END  # context rows are not written
    assert len(frame[frame["station_id"] == "IOT-T-CLEAN"].query("source == 'iot'")) == 4 * 96
    spike = frame[(frame["station_id"] == "IOT-T-SPIKE") & (frame["parameter"] == "do_mg_l")]
    at = spike[spike["ts"] == DAY + pd.Timedelta(hours=10)].iloc[0]
    assert (at["qc_spike"], at["qc_flag"], at["quality"]) == (4, 4, "bad")
    gap = frame[(frame["station_id"] == "IOT-T-GAP") & (frame["ts"] == DAY + pd.Timedelta(hours=10))]
    assert set(gap["qc_gap"]) == {3} and set(gap["quality"]) == {"suspect"}
    clean = frame[(frame["station_id"] == "IOT-T-CLEAN") & (frame["source"] == "iot")]
    assert set(clean["qc_flag"]) == {1}
    assert set(frame["approval_status"]) == {"provisional"}
    assert frame["qc_version"].str.startswith(CONFIG.version).all()


def test_units_sources_and_censoring(wh: WarehouseResource) -> None:
    frame = _readings(wh, "station_id IN ('NWMP-T-1', 'IOT-T-CLEAN') AND source <> 'iot'")
    by = {(r.source, r.parameter): r for r in frame.itertuples()}
    assert by[("cpcb_nwmp_max", "ec_us_cm")].value == pytest.approx(2100.0)
    assert by[("cpcb_nwmp_max", "ec_us_cm")].unit == "µS/cm"
    assert by[("cpcb_nwmp_min", "bod_mg_l")].unit == "mg/L"
    assert by[("mpcb", "tc_mpn_100ml")].censored == ">"
    assert by[("mpcb", "tc_mpn_100ml")].value == 1600.0
    with wh.connect() as conn:
        letters = conn.execute(
            "SELECT reason FROM ops.dead_letters WHERE source = 'core.readings'"
        ).fetchall()
        nwmp = conn.execute(
            "SELECT annual_min, annual_max FROM core.nwmp_annual WHERE parameter='bod_mg_l'"
        ).fetchall()
    assert letters == [("unit cannot be converted to canonical",)]
    assert nwmp == [(1.4, 4.8)]


def test_preferred_view_prefers_iot_and_hides_annual_statistics(wh: WarehouseResource) -> None:
    with wh.connect() as conn:
        rows = conn.execute(
            "SELECT source, value FROM core.readings_preferred WHERE station_id ="
            " 'IOT-T-CLEAN' AND parameter = 'ph'"
            " AND ts = %s",
            (DAY + pd.Timedelta(hours=10),),
        ).fetchall()
        stats = conn.execute(
            "SELECT count(*) FROM core.readings_preferred WHERE station_id = 'NWMP-T-1'"
        ).fetchone()
        both = conn.execute(
            "SELECT count(*) FROM core.readings WHERE station_id = 'IOT-T-CLEAN' AND"
            " parameter = 'ph' AND ts = %s",
            (DAY + pd.Timedelta(hours=10),),
        ).fetchone()
    assert both == (2,)
    assert len(rows) == 1 and rows[0][0] == "iot"
    assert stats == (0,)


def test_rerun_replaces_partition(wh: WarehouseResource) -> None:
    before = _readings(wh)
    with wh.connect() as conn:
        conn.execute(
            "UPDATE raw.sensor_messages SET \"values\"[array_position(parameters, 'temp_c')] = 65"
            " WHERE station_id = 'IOT-T-CLEAN' AND ts = %s",
            (DAY + pd.Timedelta(hours=12),),
        )
    _, summary = score_window(wh, DAY, END, CONFIG)
    after = _readings(wh)
    assert len(after) == len(before) == summary.rows_written == summary.rows_replaced
    row = after[(after["station_id"] == "IOT-T-CLEAN") & (after["parameter"] == "temp_c")]
    row = row[pd.to_datetime(row["ts"], utc=True) == DAY + pd.Timedelta(hours=12)]
    assert row["value"].tolist() == [65.0] and row["qc_gross_range"].tolist() == [4]
    with wh.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM ops.dead_letters WHERE source = 'core.readings'"
        ).fetchone() == (1,)


def test_great_expectations_suite(wh: WarehouseResource) -> None:
    frame = _readings(wh)
    success, details = validate_core_readings(frame)
    assert success, [d for d in details if not d["success"]]
    broken = frame.copy()
    broken.loc[0, "qc_flag"] = 7
    broken.loc[1, "unit"] = "mg/dl"
    broken = pd.concat([broken, broken.iloc[[2]]])
    success, details = validate_core_readings(broken)
    failed = {d["expectation"] for d in details if not d["success"]}
    assert not success
    assert {
        "expect_column_values_to_be_in_set",
        "expect_column_pair_values_to_be_in_set",
        "expect_compound_columns_to_be_unique",
    } <= failed


def test_asset_materialises_partition(wh: WarehouseResource) -> None:
    result = dg.materialize([core_readings], partition_key=str(DAY.date()), resources={"warehouse": wh})
    assert result.success
    metadata = result.asset_materializations_for_node("core__readings")[0].metadata
    assert metadata["dagster/row_count"].value == len(_readings(wh))
    assert metadata["dead_letters"].value == 1
