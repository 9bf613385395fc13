"""The WQI at the grain the data allow, on the real TimescaleDB: per lab sample (MPCB's golden case), per
month, per financial year with its trend, and the live WQI that borrows BOD/FC from a co-located lab
station."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.marts.assets import station_wqi_daily_asset
from purehealth_pipelines.marts.wqi_assets import (
    sample_wqi_asset,
    station_wqi_annual_asset,
    station_wqi_monthly_asset,
)
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_window
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import REGISTRY_COLUMNS
from purehealth_pipelines.warehouse.writer import copy_frame
from purehealth_pipelines_tests.quality.synthetic import sensor_frame
from realtime_bridge.writer import copy_readings

IST = "Asia/Kolkata"
GOLDEN_DAY = pd.Timestamp("2024-04-01", tz=IST)  # MPCB 2023-24 report, station 1153, April
MISSING_FC_DAY = pd.Timestamp("2024-05-01", tz=IST)
LIVE_DAY = pd.Timestamp("2024-06-21", tz=IST)
FRESH_LAB_DAY = LIVE_DAY - pd.Timedelta(days=20)
STALE_LAB_DAY = LIVE_DAY - pd.Timedelta(days=60)
TREND_STATION = "NWMP-W-TREND"
TREND_FIRST_FY, TREND_LAST_FY = 2024, 2025  # two complete financial years of monthly samples
UNITS = {"do_mg_l": "mg/L", "bod_mg_l": "mg/L", "ph": "pH units", "fc_mpn_100ml": "MPN/100 mL"}
UNITS |= {"tc_mpn_100ml": "MPN/100 mL", "temp_c": "°C"}


def _station(
    station_id: str, network: str, colocated: str | None = None, designated: str | None = None
) -> dict:
    row = dict.fromkeys(REGISTRY_COLUMNS)
    return row | {
        "station_id": station_id,
        "name": station_id,
        "network": network,
        "colocated_lab_station_id": colocated,
        "designated_best_use": designated,
        "location_source": "unknown",
    }


def _lab(
    station_id: str, at: pd.Timestamp, values: dict[str, float], censored: dict | None = None
) -> list[dict]:
    censored = censored or {}
    return [
        {
            "station_id": station_id,
            "parameter": parameter,
            "ts": at,
            "value": value,
            "unit": UNITS[parameter],
            "censored": censored.get(parameter),
            "station_code": station_id.rsplit("-", 1)[-1],
        }
        for parameter, value in values.items()
    ]


def _trend_samples() -> list[dict]:
    """Monthly samples whose BOD rises by 1 mg/l a year (so the WQI falls ~1.3 points a year), seasonal."""
    rows = []
    for fy in range(TREND_FIRST_FY, TREND_LAST_FY + 1):
        for i in range(12):
            month = pd.Timestamp(year=fy + (1 if i >= 9 else 0), month=(i + 3) % 12 + 1, day=1, tz=IST)
            season = 0.5 * np.sin(2 * np.pi * i / 12)
            values = {"do_mg_l": 6.2, "ph": 7.6, "fc_mpn_100ml": 40.0, "tc_mpn_100ml": 120.0}
            rows += _lab(
                TREND_STATION, month, values | {"bod_mg_l": round(2.0 + (fy - TREND_FIRST_FY) + season, 2)}
            )
    return rows


@pytest.fixture(scope="module")
def wh(module_warehouse_url: str) -> WarehouseResource:
    warehouse = WarehouseResource(url=module_warehouse_url)
    stations = pd.DataFrame(
        [
            _station("NWMP-1153", "NWMP"),
            _station("NWMP-W-MISS", "NWMP"),
            _station("NWMP-W-LAB", "NWMP"),
            _station("NWMP-W-OLD", "NWMP"),
            _station(TREND_STATION, "NWMP", designated="B"),
            _station("IOT-W-FRESH", "IOT", colocated="NWMP-W-LAB"),
            _station("IOT-W-STALE", "IOT", colocated="NWMP-W-OLD"),
        ]
    )
    golden = {"bod_mg_l": 2.2, "do_mg_l": 5.5, "fc_mpn_100ml": 6.0, "ph": 7.6, "tc_mpn_100ml": 17.0}
    lab = pd.DataFrame(
        _lab("NWMP-1153", GOLDEN_DAY, golden)
        + _lab("NWMP-W-MISS", MISSING_FC_DAY, {"bod_mg_l": 3.1, "do_mg_l": 6.0, "ph": 7.4})
        + _lab("NWMP-W-LAB", FRESH_LAB_DAY, {"bod_mg_l": 2.5, "fc_mpn_100ml": 1600.0}, {"fc_mpn_100ml": ">"})
        + _lab("NWMP-W-OLD", STALE_LAB_DAY, {"bod_mg_l": 2.5, "fc_mpn_100ml": 30.0})
        + _trend_samples()
    )
    live = pd.concat(
        [
            sensor_frame(
                s, LIVE_DAY - pd.Timedelta(hours=6), LIVE_DAY + pd.Timedelta(days=1, hours=1), seed=n
            )
            for n, s in enumerate(["IOT-W-FRESH", "IOT-W-STALE"])
        ],
        ignore_index=True,
    )
    with warehouse.connect() as conn, conn.cursor() as cur:
        copy_frame(cur, "ref.stations", stations)
        copy_frame(cur, "raw.mpcb_monthly", lab)
        copy_readings(cur, live)
    config = load_config()
    days = {ts.normalize() for ts in lab["ts"]} | {LIVE_DAY}
    for day in sorted(days):
        score_window(warehouse, day, day + pd.Timedelta(days=1), config)
    return warehouse


def _materialize(wh: WarehouseResource, asset, partition: str, run_config: dict | None = None) -> None:
    result = dg.materialize(
        [asset], partition_key=partition, resources={"warehouse": wh}, run_config=run_config
    )
    assert result.success


def _materialize_range(wh: WarehouseResource, asset, first: str, last: str) -> None:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize([asset], tags=tags, resources={"warehouse": wh})
    assert result.success


def _count(wh: WarehouseResource, table: str) -> int:
    with wh.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_sample_wqi_reproduces_mpcb_golden_case(wh: WarehouseResource) -> None:
    _materialize(wh, sample_wqi_asset, str(GOLDEN_DAY.date()))
    with wh.connect() as conn:
        row = conn.execute(
            "SELECT si_bod, si_do, si_fc, si_ph, wqi, wqi_label, missing_parameters, used_parameters, source"
            " FROM mart.sample_wqi WHERE station_id = 'NWMP-1153' AND sample_ts = %s",
            (GOLDEN_DAY,),
        ).fetchone()
    si_bod, si_do, si_fc, si_ph, wqi, label, missing, used, source = row
    # MPCB prints sub-indices BOD 81.27, DO 85.44, FC 76.51, pH 90.10 and WQI 83.16 after rounding its
    # intermediates by hand (%sat 84.61, log 6 = 0.778); exact arithmetic differs by ≤ 0.01 (indices.wqi).
    assert si_bod == pytest.approx(81.27, abs=0.005) and si_ph == pytest.approx(90.10, abs=0.005)
    assert si_do == pytest.approx(85.44, abs=0.015) and si_fc == pytest.approx(76.51, abs=0.015)
    assert wqi == pytest.approx(83.16, abs=0.015) and label == "Good to Excellent"
    assert missing is None and source == "mpcb"
    assert set(used.split(",")) == {"bod_mg_l", "do_mg_l", "fc_mpn_100ml", "ph", "tc_mpn_100ml"}


def test_sample_missing_fc_is_kept_with_the_missing_parameter_named(wh: WarehouseResource) -> None:
    _materialize(wh, sample_wqi_asset, str(MISSING_FC_DAY.date()))
    with wh.connect() as conn:
        rows = conn.execute(
            "SELECT wqi, wqi_label, missing_parameters, si_bod, si_do FROM mart.sample_wqi"
            " WHERE station_id = 'NWMP-W-MISS'"
        ).fetchall()
    assert len(rows) == 1
    wqi, label, missing, si_bod, si_do = rows[0]
    assert (wqi, label, missing) == (None, None, "fc_mpn_100ml")
    assert si_bod is not None and si_do is not None  # what was measured is still scored


def test_live_wqi_uses_a_20_day_old_lab_sample_and_refuses_a_60_day_old_one(wh: WarehouseResource) -> None:
    _materialize(wh, station_wqi_daily_asset, str(LIVE_DAY.date()))
    query = (
        "SELECT station_id, wqi, bod_mg_l, fc_mpn_100ml, lab_station_id, lab_sample_ts, lab_sample_age_days,"
        " lab_inputs, wqi_note, do_mg_l FROM mart.station_wqi_daily"
        " WHERE day = %s AND station_id LIKE 'IOT-W-%%'"
        " ORDER BY station_id"
    )
    with wh.connect() as conn:
        fresh, stale = conn.execute(query, (LIVE_DAY,)).fetchall()
    assert fresh[0] == "IOT-W-FRESH" and fresh[1] is not None
    assert (fresh[2], fresh[3], fresh[4], fresh[5]) == (2.5, 1600.0, "NWMP-W-LAB", FRESH_LAB_DAY)
    assert fresh[6] == pytest.approx(20.0) and fresh[7] == "bod_mg_l,fc_mpn_100ml" and fresh[8] is None
    assert 5.5 < fresh[9] < 7.5  # DO stays the sensor's daily mean
    assert stale[0] == "IOT-W-STALE" and stale[1] is None and stale[4] is None
    assert "NWMP-W-OLD" in stale[8] and "60.0 days old" in stale[8] and "45-day limit" in stale[8]

    # The age limit is configuration: at 15 days the 20-day-old sample is refused too.
    config = {"ops": {"mart__station_wqi_daily": {"config": {"max_lab_age_days": 15}}}}
    _materialize(wh, station_wqi_daily_asset, str(LIVE_DAY.date()), config)
    with wh.connect() as conn:
        fresh, _ = conn.execute(query, (LIVE_DAY,)).fetchall()
    assert fresh[1] is None and "20.0 days old, over the 15-day limit" in fresh[8]
    _materialize(wh, station_wqi_daily_asset, str(LIVE_DAY.date()))  # back to the default


def test_monthly_and_annual_marts_with_trend_and_reruns_change_no_row_count(wh: WarehouseResource) -> None:
    first_day, last_day = f"{TREND_FIRST_FY}-04-01", f"{TREND_LAST_FY + 1}-03-31"
    _materialize_range(wh, sample_wqi_asset, first_day, last_day)
    _materialize_range(wh, station_wqi_monthly_asset, first_day, f"{TREND_LAST_FY + 1}-03-01")
    trend_config = {"ops": {"mart__station_wqi_annual": {"config": {"min_trend_years": 2}}}}
    for fy in (TREND_FIRST_FY, TREND_LAST_FY):
        _materialize(wh, station_wqi_annual_asset, str(fy), trend_config)
    with wh.connect() as conn:
        golden_month = conn.execute(
            "SELECT m.wqi, s.wqi, m.samples FROM mart.station_wqi_monthly m JOIN mart.sample_wqi s"
            " ON s.station_id = m.station_id AND s.sample_ts = m.month WHERE m.station_id = 'NWMP-1153'"
        ).fetchone()
        annual = conn.execute(
            "SELECT financial_year, samples, samples_with_wqi, wqi_mean, wqi_class, designated_class,"
            " designation_source, exceedances, samples_exceeding, previous_wqi_class, class_change, trend,"
            " trend_p_value, trend_sen_slope, trend_years FROM mart.station_wqi_annual"
            " WHERE station_id = %s ORDER BY fy_start",
            (TREND_STATION,),
        ).fetchall()
        monthly_means = conn.execute(
            "SELECT wqi FROM mart.station_wqi_monthly WHERE station_id = %s ORDER BY month", (TREND_STATION,)
        ).fetchall()
    assert golden_month[0] == pytest.approx(golden_month[1]) and golden_month[2] == 1
    assert [a[0] for a in annual] == ["2024-25", "2025-26"]
    first, second = annual
    assert first[1:3] == (12, 12) and second[1:3] == (12, 12)
    assert second[3] == pytest.approx(np.mean([m[0] for m in monthly_means[12:]]))
    assert (second[5], second[6]) == ("B", "ref.stations")
    # class B: BOD ≤ 3. FY 2024-25 BOD is 1.5–2.5 (never over), FY 2025-26 is 2.5–3.5 (over in 5 months).
    assert first[7]["bod_mg_l > 3"] == {"exceeded": 0, "measured": 12}
    bod = np.array([round(3.0 + 0.5 * np.sin(2 * np.pi * i / 12), 2) for i in range(12)])
    assert second[7]["bod_mg_l > 3"] == {"exceeded": int((bod > 3).sum()), "measured": 12}
    assert second[8] == int((bod > 3).sum())
    assert first[11] is None and first[14] == 1  # one year: no trend yet
    # BOD +1 mg/l a year lowers the BOD sub-index by 7 points, the WQI by 0.19 × 7 = 1.33 a year.
    assert second[11] == "decreasing" and second[12] < 0.05 and second[14] == 2
    assert second[13] == pytest.approx(-1.33, abs=0.01)

    counts = {
        t: _count(wh, t) for t in ("mart.sample_wqi", "mart.station_wqi_monthly", "mart.station_wqi_annual")
    }
    counts["mart.station_wqi_daily"] = _count(wh, "mart.station_wqi_daily")
    _materialize_range(wh, sample_wqi_asset, first_day, last_day)
    _materialize_range(wh, station_wqi_monthly_asset, first_day, f"{TREND_LAST_FY + 1}-03-01")
    _materialize(wh, station_wqi_annual_asset, str(TREND_LAST_FY), trend_config)
    _materialize(wh, station_wqi_daily_asset, str(LIVE_DAY.date()))
    assert {t: _count(wh, t) for t in counts} == counts
    assert json.dumps(second[7])  # exceedances are JSON an analyst can query


def test_wqi_marts_and_report_follow_their_own_slower_sensor() -> None:
    import purehealth_pipelines.definitions as location

    repository = location.defs.get_repository_def()
    graph = repository.asset_graph
    sensors = {s.name: s for s in repository.sensor_defs}
    wqi, marts = sensors["wqi_automation_sensor"], sensors["marts_automation_sensor"]
    wqi_keys = wqi.asset_selection.resolve(graph)
    expected = {
        dg.AssetKey(["mart", "sample_wqi"]),
        dg.AssetKey(["mart", "station_wqi_monthly"]),
        dg.AssetKey(["mart", "station_wqi_annual"]),
        dg.AssetKey(["reports", "water_quality_status"]),
    }
    assert wqi_keys == expected and wqi.default_status == dg.DefaultSensorStatus.RUNNING
    assert wqi.minimum_interval_seconds > marts.minimum_interval_seconds
    marts_keys = marts.asset_selection.resolve(graph)
    assert not marts_keys & expected and dg.AssetKey(["mart", "station_wqi_daily"]) in marts_keys
