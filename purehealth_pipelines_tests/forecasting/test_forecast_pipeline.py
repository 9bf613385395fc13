"""Forecasting against the real warehouse: SQL hourly means, registry, backtests, forecasts, NOTIFY, alerts,
and the Dagster assets with their metadata."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import psycopg
import pytest

from purehealth_pipelines.forecasting import assets, publish, registry, service, synthetic
from purehealth_pipelines.forecasting.readings import read_exogenous, read_hourly
from purehealth_pipelines.live.channels import load_secret, unseal
from purehealth_pipelines.resources import WarehouseResource

START = pd.Timestamp("2024-05-25", tz="UTC")
AS_OF = pd.Timestamp("2024-07-01 06:10", tz="UTC")
PARAMETERS = ("do_mg_l", "ph")
FAST = {"num_boost_round": 30}


@pytest.fixture(scope="module")
def loaded(module_warehouse_url: str) -> tuple[WarehouseResource, list[str]]:
    """Three live (IOT) stations of the registry with 15-minute readings; one has anoxic DO (< 4 mg/l)."""
    warehouse = WarehouseResource(url=module_warehouse_url)
    stations = service.live_stations()[:3]
    rain = synthetic.daily_rainfall(stations, START, AS_OF)
    readings = synthetic.sensor_readings(stations, START, AS_OF, rainfall=rain, parameters=PARAMETERS)
    polluted = (readings["station_id"] == stations[0]) & (readings["parameter"] == "do_mg_l")
    readings.loc[polluted, "value"] = (readings.loc[polluted, "value"] - 4.0).clip(lower=0.2)
    # A suspect reading must not reach the training data.
    readings.loc[readings.index[:5], "qc_flag"] = 3
    warehouse.write_partition("core.readings", readings, START, AS_OF + pd.Timedelta(hours=1))
    warehouse.write_partition("raw.imd_rainfall", rain, START - pd.Timedelta(days=1), AS_OF)
    return warehouse, stations


def test_sql_hourly_means_match_the_in_memory_definition(loaded: tuple[WarehouseResource, list[str]]) -> None:
    warehouse, stations = loaded
    start, end = pd.Timestamp("2024-06-10", tz="UTC"), pd.Timestamp("2024-06-12", tz="UTC")
    from_sql = read_hourly(warehouse, PARAMETERS, start, end, stations)
    readings = synthetic.sensor_readings(stations, START, AS_OF, parameters=PARAMETERS)  # same seed
    readings = readings[
        (readings["ts"] >= start) & (readings["ts"] < end) & (readings["station_id"] != stations[0])
    ]
    expected = synthetic.hourly_means(readings)
    merged = from_sql.merge(expected, on=["station_id", "parameter", "ts"], suffixes=("_sql", "_py"))
    assert len(merged) == len(expected) == 2 * 2 * 48
    assert (merged["value_sql"] - merged["value_py"]).abs().max() < 1e-9
    rain = read_exogenous(warehouse, start, end, stations)
    assert set(rain["parameter"]) == {"rainfall_mm"} and rain["ts"].max() < end


def test_train_register_backtest_forecast_notify_and_alert(
    loaded: tuple[WarehouseResource, list[str]],
) -> None:
    warehouse, stations = loaded
    report = service.train_and_register(warehouse, AS_OF, days=35, parameters=PARAMETERS, train_kwargs=FAST)
    assert set(report.trained) == set(PARAMETERS), report.skipped
    assert all(s["status"] == "approved" for s in report.trained.values()), report.trained
    served = {p: s["served_horizons"] for p, s in report.trained.items()}
    assert {1, 6} <= set(served["do_mg_l"]), report.trained  # the daily cycle: clearly beats both baselines
    for parameter, summary in report.trained.items():  # a refused horizon says why (the per-horizon gate)
        for h, verdict in summary["skill_per_horizon"].items():
            assert verdict["served"] == (h in served[parameter])
            assert verdict["served"] or "loses" in verdict["gate"] or "margin" in verdict["gate"]
    version, reloaded = registry.load_approved(warehouse, "do_mg_l")
    assert version == report.version and len(reloaded.boosters) == 3 * len(served["do_mg_l"])
    assert reloaded.train_end < AS_OF  # trained only on what was known at as_of
    stored = warehouse.read_frame("SELECT DISTINCT model_sha256, features, params FROM ml.models")
    assert len(stored) == 18 and stored["params"].iloc[0]["deterministic"] is True

    # Retraining on the same data gives the same model text (same hashes), approved again.
    again = service.train_and_register(warehouse, AS_OF, days=35, parameters=PARAMETERS, train_kwargs=FAST)
    assert again.trained["do_mg_l"]["fingerprint"] == report.trained["do_mg_l"]["fingerprint"]

    bt = service.run_backtest(
        warehouse, AS_OF, days=30, n_folds=2, fold_hours=96, parameters=("do_mg_l",), train_kwargs=FAST
    )
    table = warehouse.read_frame(
        "SELECT * FROM ml.backtests WHERE run_id = %s ORDER BY horizon_h", (bt.run_id,)
    )
    assert table["horizon_h"].tolist() == [1, 6, 24]
    assert table["skill_vs_persistence"].mean() > 0

    with psycopg.connect(warehouse.url, autocommit=True) as listener:
        listener.execute("LISTEN purehealth_events")
        issued = service.issue_forecasts(warehouse, "live", AS_OF, parameters=PARAMETERS)
        secret = load_secret(listener)
        notifies = listener.notifies(timeout=2.0, stop_after=200)
        messages = [json.loads(unseal(secret, n.channel, n.payload)) for n in notifies]
    assert issued.origin == pd.Timestamp("2024-07-01 06:00", tz="UTC")
    forecasts = warehouse.read_frame("SELECT * FROM mart.forecasts ORDER BY station_id, parameter, horizon_h")
    n_served = sum(len(h) for h in served.values())
    assert len(forecasts) == 3 * n_served  # refused horizons are not served at all
    assert set(forecasts["station_id"]) == set(stations)
    assert (
        forecasts["ts"] == forecasts["origin_ts"] + pd.to_timedelta(forecasts["horizon_h"], unit="h")
    ).all()
    assert ((forecasts["p10"] <= forecasts["p50"]) & (forecasts["p50"] <= forecasts["p90"])).all()

    by_type = {t: [m for m in messages if m["type"] == t] for t in ("forecast", "forecast_alert")}
    assert len(by_type["forecast"]) == 6
    first = by_type["forecast"][0]
    assert [h["h"] for h in first["horizons"]] == served[first["parameter"]] and first[
        "issued_at"
    ].startswith("2024-07-01T06:10")
    alerts = warehouse.read_frame("SELECT * FROM mart.forecast_alerts")
    assert len(alerts) > 0 and set(alerts["station_id"]) == {stations[0]}
    assert set(alerts["rule"]) == {"do_p50_below_4"} and (alerts["p50"] < 4).all()
    assert len(by_type["forecast_alert"]) == len(alerts)

    # Re-issuing the same slot replaces, never duplicates.
    service.issue_forecasts(warehouse, "live", AS_OF, parameters=PARAMETERS)
    assert warehouse.read_frame("SELECT count(*) AS n FROM mart.forecasts")["n"].iloc[0] == 3 * n_served


def test_failed_publish_announces_nothing(loaded: tuple[WarehouseResource, list[str]]) -> None:
    warehouse, _ = loaded
    issued_at = pd.Timestamp("2024-07-01 05:00", tz="UTC")
    row = {
        "station_id": "IOT-X", "parameter": "ph", "issued_at": issued_at, "horizon_h": 1,
        "ts": issued_at + pd.Timedelta(hours=1), "origin_ts": issued_at, "p10": 7.0, "p50": 7.1, "p90": 7.2,
        "station_group": "live", "model_version": "v",
    }  # fmt: skip
    broken = pd.DataFrame([row, row])  # duplicate key: COPY fails inside the transaction
    with psycopg.connect(warehouse.url, autocommit=True) as listener:
        listener.execute("LISTEN purehealth_events")
        with pytest.raises(psycopg.errors.UniqueViolation):
            publish.publish_forecasts(warehouse, broken, publish.forecast_alerts(broken), issued_at, "live")
        assert list(listener.notifies(timeout=0.5)) == []


def test_assets_materialize_with_metadata(loaded: tuple[WarehouseResource, list[str]]) -> None:
    warehouse, _ = loaded
    as_of = AS_OF.isoformat()
    result = dg.materialize(
        [assets.forecast_models, assets.forecast_backtests, assets.forecasts],
        resources={"warehouse": warehouse},
        run_config=dg.RunConfig(
            ops={
                "ml__models": assets.TrainingConfig(as_of=as_of, days=30, num_boost_round=20),
                "ml__backtests": assets.BacktestConfig(
                    as_of=as_of, days=20, n_folds=1, fold_hours=72, num_boost_round=20
                ),
                "mart__forecasts": assets.ForecastConfig(as_of=as_of, station_group="live"),
            }
        ),
    )
    assert result.success
    by_key = {
        m.event_specific_data.materialization.asset_key.path[
            -1
        ]: m.event_specific_data.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    assert "| ph | 6 |" in by_key["backtests"]["skill_table"].value
    assert "data:image/svg+xml;base64," in by_key["backtests"]["forecast_vs_actual"].value
    # one forecast row per station and approved horizon (turbidity/EC: no model; refused horizons: none)
    approved = warehouse.read_frame(
        "SELECT count(DISTINCT (parameter, horizon_h)) AS n FROM ml.models WHERE status = 'approved'"
    )["n"].iloc[0]
    assert 2 * 2 <= approved <= 2 * 3  # +1 h and +6 h of both parameters at least
    assert by_key["forecasts"]["dagster/row_count"].value == 3 * approved
    assert by_key["models"]["dagster/row_count"].value == 9 * 2

    partition = dg.materialize(
        [assets.forecast_features], resources={"warehouse": warehouse}, partition_key="2024-06-20"
    )
    assert partition.success
    stored = warehouse.read_frame(
        "SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS n FROM ml.forecast_features"
    )
    assert stored["n"].iloc[0] == 3 * 2 * 24
    assert stored["lo"].iloc[0] == pd.Timestamp(
        "2024-06-19 19:00", tz="UTC"
    )  # first whole hour of the IST day
    assert stored["hi"].iloc[0] == pd.Timestamp("2024-06-20 18:00", tz="UTC")
