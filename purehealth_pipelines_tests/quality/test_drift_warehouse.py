"""The drift test in the warehouse (migration 0800_qc2_drift): references learned from core.readings by
["core","qc_drift_reference"], then a drifted sensor's readings get qc_drift = 3 in core.readings; the
cross-parameter model's slope round-trips through core.qc_drift_reference.ratio (migration 1600)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.quality.assets import qc_drift_reference
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.drift import oxygen_saturation_mg_l
from purehealth_pipelines.quality.pipeline import learn_drift_references, score_range
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import copy_frame
from purehealth_pipelines_tests.quality.test_drift import snowmelt_stream, with_turbidity_covariate
from realtime_bridge.writer import copy_readings

CONFIG = load_config()
# recent: the asset learns from the last `drift.learning_days` before now
START = pd.Timestamp.now(tz="Asia/Kolkata").normalize() - pd.Timedelta(days=30)
LEARN_DAYS, DRIFT_DAY, DAYS = 20, 22, 26
STATIONS = ("IOT-D-DRIFT", "IOT-D-STEADY")


def _sensor(station: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=DAYS * 96, freq="15min")
    days = np.arange(len(ts)) / 96
    diurnal = np.sin(2 * np.pi * (days - 0.375))
    temp = 6.0 + 2.0 * np.sin(days / 5.0) + 1.5 * diurnal
    do = 0.86 * oxygen_saturation_mg_l(temp) + 0.3 * diurnal + rng.normal(0, 0.05, len(ts))
    if station == "IOT-D-DRIFT":
        do = do + np.where(days >= DRIFT_DAY, 2.0, 0.0)  # the sensor reads 2 mg/l high from day 22
    return pd.concat(
        [
            pd.DataFrame(
                {"station_id": station, "parameter": "temp_c", "ts": ts, "value": np.round(temp, 2)}
            ),
            pd.DataFrame({"station_id": station, "parameter": "do_mg_l", "ts": ts, "value": np.round(do, 2)}),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def wh(module_warehouse_url: str) -> WarehouseResource:
    warehouse = WarehouseResource(url=module_warehouse_url)
    with warehouse.connect() as conn, conn.cursor() as cur:
        copy_readings(cur, pd.concat([_sensor(s, i) for i, s in enumerate(STATIONS)], ignore_index=True))
    learn_end = START + pd.Timedelta(days=LEARN_DAYS)
    score_range(warehouse, START, learn_end, CONFIG, now=learn_end)
    return warehouse


def test_reference_is_learned_from_core_readings_and_applied_when_rescoring(wh: WarehouseResource) -> None:
    with wh.connect() as conn:
        before = read_frame(conn, "SELECT DISTINCT qc_drift FROM core.readings")
    assert set(before["qc_drift"]) == {2}  # nothing learned yet: the test does not judge
    result = dg.materialize([qc_drift_reference], resources={"warehouse": wh})
    assert result.success
    with wh.connect() as conn:
        reference = read_frame(conn, "SELECT * FROM core.qc_drift_reference_current ORDER BY station_id")
    assert list(reference["station_id"]) == sorted(STATIONS)
    assert set(reference["model"]) == {"saturation"} and set(reference["parameter"]) == {"do_mg_l"}
    assert reference["ratio"].to_numpy() == pytest.approx([0.86, 0.86], abs=0.02)
    assert (reference["threshold"] >= 1.0).all()  # the DO floor: a technician's 1 mg/l

    end = START + pd.Timedelta(days=DAYS)
    score_range(wh, START + pd.Timedelta(days=LEARN_DAYS), end, CONFIG, now=end)
    with wh.connect() as conn:
        scored = read_frame(
            conn,
            "SELECT station_id, parameter, ts, qc_drift, qc_flag, qc_version FROM core.readings"
            " WHERE ts >= %(since)s ORDER BY station_id, parameter, ts",
            {"since": (START + pd.Timedelta(days=LEARN_DAYS)).to_pydatetime()},
        )
    scored["ts"] = pd.to_datetime(scored["ts"], utc=True)
    do = scored[scored["parameter"] == "do_mg_l"]
    drifted = do[(do["station_id"] == "IOT-D-DRIFT") & (do["ts"] >= START + pd.Timedelta(days=DRIFT_DAY + 1))]
    before_drift = do[(do["station_id"] == "IOT-D-DRIFT") & (do["ts"] < START + pd.Timedelta(days=DRIFT_DAY))]
    steady = do[do["station_id"] == "IOT-D-STEADY"]
    assert set(drifted["qc_drift"]) == {3} and set(drifted["qc_flag"]) == {3}
    assert set(before_drift["qc_drift"]) == {1}
    assert set(steady["qc_drift"]) == {1}
    assert set(scored.loc[scored["parameter"] == "temp_c", "qc_drift"]) == {2}
    assert scored["qc_version"].str.contains(reference["version"].iloc[0], regex=False).all()


def test_covariate_model_round_trips_through_the_warehouse(wh: WarehouseResource) -> None:
    """The cross-parameter model (log turbidity from log EC; shipped disabled, opt-in per config) learns
    its slope from core.readings, stores it in core.qc_drift_reference.ratio, and the warehouse scorer
    flags the fouled station's turbidity from it — the same functions score-file uses."""
    config = with_turbidity_covariate(CONFIG)
    frames = []
    for station, fouling in (("IOT-D-FOULED", 22), ("IOT-D-CLEAN", None)):
        ts, series = snowmelt_stream(DAYS, seed=7, fouling_from=fouling)
        ts = ts - ts[0] + START
        for parameter in ("ec_us_cm", "turbidity_ntu"):
            frames.append(
                pd.DataFrame(
                    {"station_id": station, "parameter": parameter, "ts": ts, "value": series[parameter]}
                )
            )
    with wh.connect() as conn, conn.cursor() as cur:
        copy_readings(cur, pd.concat(frames, ignore_index=True))
    learn_end = START + pd.Timedelta(days=LEARN_DAYS)
    score_range(wh, START, learn_end, config, now=learn_end)
    references = learn_drift_references(wh, config, until=learn_end).assign(version="drift-test-covariate")
    with wh.connect() as conn, conn.transaction(), conn.cursor() as cur:
        copy_frame(cur, "core.qc_drift_reference", references)
    with wh.connect() as conn:
        stored = read_frame(
            conn,
            "SELECT station_id, model, ratio FROM core.qc_drift_reference_current"
            " WHERE parameter = 'turbidity_ntu' ORDER BY station_id",
        )
    assert list(stored["station_id"]) == ["IOT-D-CLEAN", "IOT-D-FOULED"]
    assert set(stored["model"]) == {"covariate"}
    assert stored["ratio"].to_numpy() == pytest.approx([-2.0, -2.0], abs=0.25)

    end = START + pd.Timedelta(days=DAYS)
    score_range(wh, learn_end, end, config, now=end)
    with wh.connect() as conn:
        scored = read_frame(
            conn,
            "SELECT station_id, ts, qc_drift FROM core.readings WHERE parameter = 'turbidity_ntu'"
            " AND ts >= %(since)s ORDER BY station_id, ts",
            {"since": learn_end.to_pydatetime()},
        )
    scored["ts"] = pd.to_datetime(scored["ts"], utc=True)
    fouled = scored[
        (scored["station_id"] == "IOT-D-FOULED") & (scored["ts"] >= START + pd.Timedelta(days=DAYS - 1))
    ]
    clean = scored[scored["station_id"] == "IOT-D-CLEAN"]
    assert len(fouled) and set(fouled["qc_drift"]) == {3}  # ×3.3 by day 26 at an unchanged EC
    assert len(clean) and 3 not in set(clean["qc_drift"])
