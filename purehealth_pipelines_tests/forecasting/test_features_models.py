"""Pure forecasting tests: no leakage, deterministic training, non-crossing calibrated intervals, skill."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.forecasting import backtest, features, models, publish, synthetic

STATIONS = ["T-FC-A", "T-FC-B", "T-FC-C"]
START = pd.Timestamp("2024-05-20", tz="UTC")
END = pd.Timestamp("2024-07-15", tz="UTC")
FAST = {"num_boost_round": 40}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rain = synthetic.daily_rainfall(STATIONS, START, END)
    readings = synthetic.sensor_readings(STATIONS, START, END, rainfall=rain, parameters=("do_mg_l", "ph"))
    return synthetic.hourly_means(readings), rain


@pytest.fixture(scope="module")
def feature_frame(data: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    hourly, rain = data
    return features.build_features(hourly, rain)


def _feature_row(frame: pd.DataFrame, station: str, parameter: str, origin: pd.Timestamp) -> pd.Series:
    row = frame[
        (frame["station_id"] == station) & (frame["parameter"] == parameter) & (frame["ts"] == origin)
    ]
    assert len(row) == 1
    return row.iloc[0]


def test_features_at_origin_use_only_data_available_at_origin(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    hourly, rain = data
    origin = pd.Timestamp("2024-07-02 09:00", tz="UTC")  # 14:30 IST: today's IMD total is not out yet
    full = features.build_features(hourly, rain, origins_from=origin, origins_to=origin)

    # Scramble every hourly value after the origin and every rainfall total not yet published at it
    # (the IMD day containing the origin, and later days): the features must not move.
    rng = np.random.default_rng(0)
    future = hourly["ts"] > origin
    tampered = hourly.copy()
    tampered.loc[future, "value"] = rng.normal(50, 10, int(future.sum()))
    unpublished = rain["ts"] + features.EXOGENOUS_LATENCY["rainfall_mm"] > origin
    assert unpublished.any() and (rain.loc[unpublished, "ts"] <= origin).any()  # the same-day total exists
    tampered_rain = rain.copy()
    tampered_rain.loc[unpublished, "value"] = 999.0
    scrambled = features.build_features(tampered, tampered_rain, origins_from=origin, origins_to=origin)
    # ... and a build from data cut at the origin gives the same features too.
    cut = features.build_features(
        hourly[~future],
        rain[rain["ts"] <= origin],
        origins_from=origin,
        origins_to=origin,
        with_targets=False,
    )

    feature_names = features.feature_columns()[1:]
    for station in STATIONS:
        for parameter in ("do_mg_l", "ph"):
            a = _feature_row(full, station, parameter, origin)
            b = _feature_row(scrambled, station, parameter, origin)
            c = _feature_row(cut, station, parameter, origin)
            pd.testing.assert_series_equal(a[feature_names], b[feature_names], check_names=False)
            pd.testing.assert_series_equal(a[feature_names], c[feature_names], check_names=False)
            # The targets are the one forward-looking part, and they do see the tampering.
            assert a["target_1h"] != b["target_1h"]
    # Yesterday's published rainfall is used: the exogenous join is live, not all-NaN.
    assert full["rain_1d_mm"].notna().all()


def test_hourly_value_labelled_by_the_end_of_its_hour() -> None:
    ts = pd.to_datetime(["2024-06-01 10:00", "2024-06-01 10:45", "2024-06-01 11:00"], utc=True)
    readings = pd.DataFrame(
        {"station_id": "S", "parameter": "ph", "ts": ts, "value": [7.0, 8.0, 9.0], "qc_flag": 1}
    )
    hourly = synthetic.hourly_means(readings)
    assert hourly["ts"].tolist() == list(pd.to_datetime(["2024-06-01 11:00", "2024-06-01 12:00"], utc=True))
    assert hourly["value"].tolist() == [7.5, 9.0]


def test_training_is_deterministic_and_independent_of_row_order(feature_frame: pd.DataFrame) -> None:
    first = models.train_quantile_models(feature_frame, "do_mg_l", **FAST)
    shuffled = feature_frame.sample(frac=1.0, random_state=3)
    second = models.train_quantile_models(shuffled, "do_mg_l", **FAST)
    assert models.model_texts(first) == models.model_texts(second)
    assert first.interval_adjustment == second.interval_adjustment
    assert len(first.boosters) == len(features.HORIZONS_H) * len(models.QUANTILES)

    reloaded = models.models_from_texts(
        "do_mg_l", first.features, models.model_texts(first), first.params, first.interval_adjustment
    )
    tail = feature_frame[feature_frame["ts"] >= pd.Timestamp("2024-07-10", tz="UTC")]
    pd.testing.assert_frame_equal(
        models.predict_quantiles(first, tail), models.predict_quantiles(reloaded, tail)
    )


def test_quantiles_never_cross_even_when_boosters_disagree(feature_frame: pd.DataFrame) -> None:
    trained = models.train_quantile_models(feature_frame, "ph", **FAST)
    # Swap the P10 and P90 boosters: raw predictions now cross everywhere; the output must still be ordered.
    for h in trained.horizons:
        trained.boosters[(h, 0.1)], trained.boosters[(h, 0.9)] = (
            trained.boosters[(h, 0.9)],
            trained.boosters[(h, 0.1)],
        )
    predicted = models.predict_quantiles(trained, feature_frame.tail(500))
    assert len(predicted) > 0
    assert (predicted["p10"] <= predicted["p50"]).all() and (predicted["p50"] <= predicted["p90"]).all()


def test_backtest_beats_persistence_and_interval_covers_about_80_percent(feature_frame: pd.DataFrame) -> None:
    predictions = backtest.rolling_origin_predictions(
        feature_frame, "do_mg_l", n_folds=2, fold_hours=5 * 24, train_kwargs=FAST
    )
    # No test origin was used in training: each fold's cutoff precedes its forecasts.
    assert (predictions["origin_ts"] > predictions["cutoff"]).all()
    table = backtest.score(predictions).set_index("horizon_h")
    assert set(table.index) == set(features.HORIZONS_H)
    # The diurnal cycle is learnable: clear skill at 1 h and 6 h; overall skill positive.
    assert table.loc[1, "skill_vs_persistence"] > 0.1
    assert table.loc[6, "skill_vs_persistence"] > 0.3
    assert table["skill_vs_persistence"].mean() > 0
    # Conformal calibration: roughly the nominal 80 % (small sample, so a generous band).
    assert table["coverage_p10_p90"].between(0.65, 0.93).all(), table["coverage_p10_p90"]
    assert "| do_mg_l | 6 |" in backtest.skill_table_markdown(table.reset_index())


def test_seasonal_naive_lag_is_the_same_hour_one_cycle_back() -> None:
    assert [features.seasonal_naive_lag(h) for h in (1, 6, 24, 30)] == [23, 18, 0, 18]


def test_forecast_alert_rules_follow_cpcb_criteria() -> None:
    issued = pd.Timestamp("2024-06-01 10:00", tz="UTC")
    frame = pd.DataFrame(
        {
            "station_id": ["A", "A", "B", "B", "C"],
            "parameter": ["do_mg_l", "do_mg_l", "ph", "ph", "ph"],
            "issued_at": issued,
            "horizon_h": [1, 6, 1, 6, 1],
            "ts": issued + pd.to_timedelta([1, 6, 1, 6, 1], unit="h"),
            "origin_ts": issued,
            "p10": [3.0, 3.5, 6.0, 8.0, 7.0],
            "p50": [3.9, 4.0, 6.4, 8.6, 7.5],
            "p90": [4.5, 4.6, 6.9, 9.0, 8.0],
            "station_group": "live",
            "model_version": "v",
        }
    )
    alerts = publish.forecast_alerts(frame)
    assert sorted(zip(alerts["station_id"], alerts["rule"], alerts["horizon_h"], strict=True)) == [
        ("A", "do_p50_below_4", 1),
        ("B", "ph_p50_above_8_5", 6),
        ("B", "ph_p50_below_6_5", 1),
    ]
    payloads = publish.forecast_payloads(frame)
    assert len(payloads) == 3 and all(len(p.encode()) < publish.MAX_PAYLOAD_BYTES for p in payloads)


def test_cwc_and_satellite_features_use_only_values_published_by_the_origin() -> None:
    """The as-of join for CWC (published as observed) and satellite indices (a day after the overpass)."""
    origin = pd.Timestamp("2024-07-02 09:00", tz="UTC")
    origins = pd.DataFrame({"station_id": ["T-EXO"], "ts": [origin]})
    gauge_times = pd.date_range("2024-06-20 03:00", "2024-07-05 03:00", freq="D", tz="UTC")
    scene_times = pd.date_range("2024-06-20 05:00", "2024-07-04 05:00", freq="2D", tz="UTC")  # incl. 07-02
    rows = [
        ("T-EXO", parameter, ts, float(i) + offset)
        for parameter, times, offset in (
            ("water_level_m", gauge_times, 100.0),
            ("discharge_m3_s", gauge_times, 500.0),
            ("ndwi", scene_times, 0.0),
            ("ndti", scene_times, 10.0),
            ("ndci", scene_times, 20.0),
            ("chl_a_mg_m3", scene_times, 30.0),
        )
        for i, ts in enumerate(times)
    ]
    exogenous = pd.DataFrame(rows, columns=["station_id", "parameter", "ts", "value"])
    honest = features.exogenous_features(origins, exogenous)

    latency = exogenous["parameter"].map(features.EXOGENOUS_LATENCY)
    unpublished = exogenous["ts"] + latency > origin
    # The overpass of the origin's own morning is observed but not yet published: the case that leaks.
    assert (unpublished & (exogenous["ts"] <= origin) & (exogenous["parameter"] == "ndwi")).any()
    tampered = exogenous.assign(value=exogenous["value"].where(~unpublished, 999.0))
    pd.testing.assert_frame_equal(honest, features.exogenous_features(origins, tampered))

    row = honest.iloc[0]
    assert row["water_level_m"] == 100.0 + 12  # the 2 July 03:00 gauge reading (index 12), no latency
    assert row["discharge_m3_s"] == 500.0 + 12
    assert row["ndwi"] == 5.0  # the 30 June scene (index 5); 2 July's is published on 3 July
    assert row["chl_a_mg_m3"] == 35.0
    assert row["satellite_age_d"] == pytest.approx((origin - scene_times[5]).total_seconds() / 86400)


def test_approval_gate_refuses_a_horizon_losing_to_seasonal_naive() -> None:
    """A +6 h P50 that beats persistence but not same-hour-yesterday is not served."""
    rng = np.random.default_rng(4)
    hours = np.arange(2000)
    actual = 8 + np.sin(hours / 24 * 2 * np.pi) + rng.normal(0, 0.05, len(hours))
    persistence = 8 + np.sin((hours - 6) / 24 * 2 * np.pi)  # the value 6 h earlier: far off
    seasonal = 8 + np.sin(hours / 24 * 2 * np.pi) + rng.normal(0, 0.05, len(hours))  # yesterday, same hour
    model = actual + rng.normal(0, 0.3, len(hours))  # better than persistence, worse than yesterday
    metrics = models.holdout_metrics(actual, model, persistence, seasonal)
    assert metrics["holdout_skill_vs_persistence"] > 0.3
    assert metrics["holdout_skill_vs_seasonal_naive"] < 0
    assert metrics["served"] is False and "seasonal naive" in metrics["gate"]
    assert metrics["better_baseline"] == "seasonal_naive"
    good = models.holdout_metrics(actual, actual + rng.normal(0, 0.01, len(hours)), persistence, seasonal)
    assert good["served"] is True
    assert models.approval_gate(0.2, -0.01) == (False, "loses to seasonal naive (skill -0.010)")
    assert models.approval_gate(-0.01, 0.5)[0] is False


def test_approval_gate_needs_a_margin_measured_in_days_not_hours() -> None:
    """A +24 h P50 somewhat better than both baselines over a 14-day hold-out is not evidence: its errors
    are shared by every hour of a day, so the margin comes from station-day blocks (such
    horizons were served and then lost to the baselines on the following weeks)."""
    rng = np.random.default_rng(8)
    hours = np.arange(14 * 24)
    days = hours // 24
    actual = 8 + rng.normal(0, 0.3, len(hours))
    # each day's weather moves every forecast made that day together: day-level errors dominate. The
    # model's day errors are the baseline's, 20 % smaller, met on other days: better on average over the
    # fortnight, worse on half of its days.
    seasonal_day = rng.normal(0, 0.5, 14)
    model_day = 0.8 * rng.permutation(seasonal_day)
    persistence = actual + 2 * seasonal_day[days] + rng.normal(0, 0.05, len(hours))
    seasonal = actual + seasonal_day[days] + rng.normal(0, 0.05, len(hours))
    model = actual + model_day[days] + rng.normal(0, 0.05, len(hours))
    by_hour = models.holdout_metrics(actual, model, persistence, seasonal)
    by_day = models.holdout_metrics(actual, model, persistence, seasonal, blocks=days)
    assert 0.1 < by_day["holdout_skill_vs_seasonal_naive"] < 0.3  # a positive point skill
    assert by_hour["served"] is True  # rows as independent evidence: served
    assert by_day["served"] is False and "margin" in by_day["gate"]
    assert by_day["holdout_margin_vs_seasonal_naive"] > by_hour["holdout_margin_vs_seasonal_naive"]
    # a clear winner is served with day blocks too
    sharp = models.holdout_metrics(
        actual, actual + rng.normal(0, 0.05, len(hours)), persistence, seasonal, days
    )
    assert sharp["served"] is True and sharp["holdout_blocks"] == 14
    # fewer than GATE_MIN_BLOCKS days: no verdict can be reached, so nothing is served
    short = models.holdout_metrics(actual[:72], actual[:72], persistence[:72], seasonal[:72], days[:72])
    assert short["served"] is False and "too few" in short["gate"]
    assert short["holdout_margin_vs_persistence"] is None


def test_approval_gate_refuses_a_horizon_that_loses_one_hold_out_week() -> None:
    """The advantage must hold week by week: a brilliant first week averaged with a losing second one is
    what later lost to the baselines on real sonde data."""
    rng = np.random.default_rng(3)
    hours = np.arange(14 * 24)
    days, weeks = hours // 24, hours // (7 * 24)
    actual = 8 + np.sin(hours / 24 * 2 * np.pi) + rng.normal(0, 0.05, len(hours))
    persistence = actual + rng.normal(0, 0.4, len(hours))
    seasonal = actual + rng.normal(0, 0.4, len(hours))
    model = actual + np.where(weeks == 0, rng.normal(0, 0.05, len(hours)), rng.normal(0, 0.45, len(hours)))
    averaged = models.holdout_metrics(actual, model, persistence, seasonal, blocks=days)
    weekly = models.holdout_metrics(actual, model, persistence, seasonal, blocks=days, periods=weeks)
    assert averaged["holdout_skill_vs_seasonal_naive"] > 0.2 and averaged["served"] is True, averaged["gate"]
    assert weekly["served"] is False and "hold-out period 1" in weekly["gate"]
    steady = actual + rng.normal(0, 0.1, len(hours))
    assert models.holdout_metrics(actual, steady, persistence, seasonal, blocks=days, periods=weeks)["served"]


def test_daily_cycle_features(feature_frame: pd.DataFrame) -> None:
    """The value 24 h before the target minus now, and yesterday's change over the same hours."""
    rows = feature_frame.dropna(subset=["lag_18h", "lag_24h", "last_value"])
    assert len(rows) > 100
    np.testing.assert_allclose(rows["seasonal_minus_now_6h"], rows["lag_18h"] - rows["last_value"])
    np.testing.assert_allclose(rows["yesterday_change_6h"], rows["lag_18h"] - rows["lag_24h"])
    assert "seasonal_minus_now_24h" not in feature_frame.columns
