"""The model-based drift test (quality/drift.py): a DO sensor that drifts away from what the
water temperature allows is flagged, a river whose DO moves with its temperature, its plants and its
organic load is not, and a calibration restarts the test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.quality.config import Drift, load_config, parse_config
from purehealth_pipelines.quality.drift import (
    learn_drift_reference,
    oxygen_saturation_mg_l,
    robust_center_scale,
    theil_sen_slope,
)
from purehealth_pipelines.quality.qartod import score_readings
from purehealth_pipelines.quality.scorefile import score_frame
from purehealth_pipelines.quality.unify import canonicalise

CONFIG = load_config()
START = pd.Timestamp("2024-01-05 00:00", tz="Asia/Kolkata")
STEP = pd.Timedelta(minutes=15)
PER_DAY = 96


def _river(days: int, seed: int = 3, start: pd.Timestamp = START) -> tuple[pd.DatetimeIndex, dict]:
    """A cold river at altitude: temperature with weather fronts and a daily cycle, DO at 85 % of the
    oxygen the water can hold, plus photosynthesis by day, respiration by night and sensor noise, printed
    at the sondes' 0.01 resolution."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * PER_DAY, freq=STEP)
    t_days = np.arange(len(ts)) / PER_DAY
    fronts = np.convolve(rng.normal(0, 1.0, days + 8), np.ones(4) / 2, mode="same")[:days]
    weather = np.interp(t_days, np.arange(days), fronts)
    diurnal = np.sin(2 * np.pi * (t_days - 0.375))  # peaks mid-afternoon
    temp = 5.0 + 2.0 * weather + 1.5 * diurnal
    do = 0.85 * oxygen_saturation_mg_l(temp) + 0.4 * diurnal + rng.normal(0, 0.05, len(ts))
    return ts, {"temp_c": np.round(temp, 2), "do_mg_l": np.round(do, 2)}


def _frame(ts: pd.DatetimeIndex, series: dict, station: str = "S-1") -> pd.DataFrame:
    units = {"temp_c": "°C", "do_mg_l": "mg/l", "turbidity_ntu": "NTU", "ec_us_cm": "µS/cm"}
    return pd.concat(
        [
            pd.DataFrame({"station_id": station, "parameter": p, "ts": ts, "value": v, "unit": units[p]})
            for p, v in series.items()
        ],
        ignore_index=True,
    )


def _score(raw: pd.DataFrame, reference: pd.DataFrame | None, config=CONFIG, calibrations=None):
    canonical, rejected = canonicalise(raw.assign(source="iot"))
    assert rejected.empty
    return score_readings(
        canonical,
        config,
        context_start=raw["ts"].min(),
        now=raw["ts"].max(),
        drift_reference=reference,
        calibrations=calibrations,
    )


def _reference(raw: pd.DataFrame, config=CONFIG, calibrations=None) -> pd.DataFrame:
    canonical, _ = canonicalise(raw.assign(source="iot"))
    return learn_drift_reference(canonical, config, calibrations=calibrations)


def _do(scored: pd.DataFrame) -> pd.DataFrame:
    return scored[scored["parameter"] == "do_mg_l"].set_index("ts")


def test_oxygen_saturation_follows_the_solubility_table() -> None:
    # Fresh water at sea level (APHA / USGS solubility tables): 14.62 mg/l at 0 °C, 11.29 at 10, 8.26 at 25
    assert oxygen_saturation_mg_l(np.array([0.0, 10.0, 25.0])) == pytest.approx(
        [14.62, 11.29, 8.26], abs=0.05
    )


def test_a_drifting_do_sensor_is_flagged_once_it_leaves_what_the_temperature_allows() -> None:
    ts, series = _river(60)
    history, recent = ts[: 30 * PER_DAY], ts[30 * PER_DAY :]
    raw = _frame(ts, series)
    reference = _reference(raw[raw["ts"].isin(history)])
    assert reference.loc[0, "ratio"] == pytest.approx(0.85, abs=0.02)  # learned, not configured
    # from day 40 the sensor drifts upward 0.15 mg/l a day (3 mg/l after 20 days) while the river does not
    drift = np.clip((np.arange(len(ts)) / PER_DAY - 40) * 0.15, 0, None)
    raw.loc[raw["parameter"] == "do_mg_l", "value"] += np.round(drift, 2)
    do = _do(_score(raw[raw["ts"].isin(recent)], reference))
    offset = pd.Series(drift, index=ts).reindex(do.index)
    assert set(do.loc[offset == 0, "qc_drift"]) <= {1, 2}  # nothing before the drift starts
    assert (do.loc[offset > 1.6, "qc_drift"] == 3).all()  # a day after it passed the 1 mg/l floor
    assert (do.loc[offset < 0.8, "qc_drift"] != 3).all()  # below what a technician would correct
    assert (do.loc[offset > 1.6, "qc_flag"] == 3).all()  # the values themselves are all plausible


def test_a_river_whose_do_follows_temperature_plants_and_organic_load_is_not_flagged() -> None:
    ts, series = _river(60, seed=9)
    n = len(ts)
    t_days = np.arange(n) / PER_DAY
    diurnal = np.sin(2 * np.pi * (t_days - 0.375))
    do = series["do_mg_l"].astype(float)
    # an algal bloom (days 35-45): photosynthesis doubles the daytime swing (supersaturated afternoons)
    bloom = (t_days >= 35) & (t_days < 45)
    do[bloom] += 0.8 * np.clip(diurnal[bloom], 0, None)
    # an organic load (days 50-54): respiration pulls DO 2.5 mg/l below saturation, day and night
    do[(t_days >= 50) & (t_days < 54)] -= 2.5
    series["do_mg_l"] = np.round(do, 2)
    raw = _frame(ts, series)
    history = raw[raw["ts"] < ts[30 * PER_DAY]]
    scored = _do(_score(raw[raw["ts"] >= ts[30 * PER_DAY]], _reference(history)))
    assert (scored["qc_drift"] == 1).mean() > 0.95
    assert not (scored["qc_drift"] == 3).any()


def test_reference_is_robust_to_a_drift_inside_its_own_history() -> None:
    ts, series = _river(60, seed=5)
    raw = _frame(ts, series)
    clean = _reference(raw)
    drifted = raw.copy()
    weeks = (
        (drifted["parameter"] == "do_mg_l")
        & (drifted["ts"] >= ts[20 * PER_DAY])
        & (drifted["ts"] < ts[32 * PER_DAY])
    )
    drifted.loc[weeks, "value"] += 2.0  # 12 of 60 days drifted, as real histories hold
    learned = _reference(drifted)

    def expected_do(reference: pd.DataFrame, temp_c: float) -> float:
        return reference.loc[0, "ratio"] * oxygen_saturation_mg_l(temp_c) + reference.loc[0, "center"]

    # what the model expects the sensor to read at the river's temperatures barely moves
    for temp_c in (2.0, 5.0, 9.0):
        assert expected_do(learned, temp_c) == pytest.approx(expected_do(clean, temp_c), abs=0.1)
    assert learned.loc[0, "threshold"] == pytest.approx(clean.loc[0, "threshold"], abs=0.15)
    # and scoring that history with its own reference finds the drifted weeks
    do = _do(_score(drifted, learned))
    inside = do.index[(do.index >= ts[21 * PER_DAY]) & (do.index < ts[32 * PER_DAY])]
    assert (do.loc[inside, "qc_drift"] == 3).mean() > 0.95
    assert (do.loc[do.index >= ts[33 * PER_DAY], "qc_drift"] != 3).all()


def test_robust_scale_ignores_a_minority_of_outlying_windows() -> None:
    rng = np.random.default_rng(1)
    normal = rng.normal(0.0, 0.1, 800)
    center, scale = robust_center_scale(np.r_[normal, np.full(200, 1.8)], k=6)
    assert center == pytest.approx(0.0, abs=0.03)
    assert scale == pytest.approx(0.1, abs=0.02)  # one pass of the plain MAD gives ~0.13


def test_a_calibration_restarts_the_window() -> None:
    ts, series = _river(40, seed=7)
    raw = _frame(ts, series)
    reference = _reference(raw[raw["ts"] < ts[20 * PER_DAY]])
    fixed_at = ts[32 * PER_DAY + 40]  # a technician recalibrates mid-morning of day 32
    drifted = (raw["parameter"] == "do_mg_l") & (raw["ts"] >= ts[25 * PER_DAY]) & (raw["ts"] < fixed_at)
    raw.loc[drifted, "value"] += 2.5
    recent = raw[raw["ts"] >= ts[20 * PER_DAY]]
    calibrations = pd.DataFrame({"station_id": ["S-1"], "parameter": ["do_mg_l"], "ts": [fixed_at]})
    without = _do(_score(recent, reference))
    with_calibration = _do(_score(recent, reference, calibrations=calibrations))
    after = without.index >= fixed_at
    # the trailing window still holds drifted hours after the fix, unless it knows about the calibration
    assert (without.loc[after, "qc_drift"] == 3).sum() >= 8
    assert not (with_calibration.loc[after, "qc_drift"] == 3).any()
    first_day = after & (without.index < fixed_at + pd.Timedelta(hours=10))
    assert set(with_calibration.loc[first_day, "qc_drift"]) == {2}  # half a window before it judges again
    assert (with_calibration.loc[ts[27 * PER_DAY] : fixed_at - STEP, "qc_drift"] == 3).all()


def test_without_a_reference_or_a_covariate_the_test_does_not_judge() -> None:
    ts, series = _river(20)
    raw = _frame(ts, series)
    assert set(_do(_score(raw, None))["qc_drift"]) == {2}
    reference = _reference(raw)
    only_do = raw[raw["parameter"] == "do_mg_l"]
    assert set(_do(_score(only_do, reference))["qc_drift"]) == {2}  # no temperature, no model
    # too little history: no reference at all
    assert _reference(raw[raw["ts"] < ts[10 * PER_DAY]]).empty
    # other parameters never get a drift flag from the DO model
    scored = _score(raw, reference)
    assert set(scored.loc[scored["parameter"] == "temp_c", "qc_drift"]) == {2}


def _with_turbidity_history(config=CONFIG):
    model = Drift(
        model="history", side="high", log=True, floor=0.1, exempt_covariate="temp_c", exempt=(-0.5, 0.5)
    )
    parameters = dict(config.parameters)
    parameters["turbidity_ntu"] = dataclasses.replace(parameters["turbidity_ntu"], drift=model)
    return dataclasses.replace(config, parameters=parameters)


def test_history_model_flags_an_erratic_sensor_not_a_smooth_event_and_not_under_ice() -> None:
    config = _with_turbidity_history()
    rng = np.random.default_rng(2)
    ts, series = _river(50, seed=2)
    n = len(ts)
    t_days = np.arange(n) / PER_DAY
    turbidity = 4.0 * np.exp(rng.normal(0, 0.02, n))
    # a storm (day 34): a smooth rise to 60 NTU and recession over two days
    storm = (t_days >= 34) & (t_days < 36)
    turbidity[storm] *= 1 + 14 * np.sin(np.pi * (t_days[storm] - 34) / 2)
    # fouling (days 40-47): the reading jumps between the film and the water
    fouled = (t_days >= 40) & (t_days < 47)
    turbidity[fouled] *= np.where(rng.random(fouled.sum()) < 0.5, 1.0, rng.uniform(1.5, 4.0, fouled.sum()))
    series["turbidity_ntu"] = np.round(turbidity, 2)
    raw = _frame(ts, series)
    reference = _reference(raw[raw["ts"] < ts[30 * PER_DAY]], config)
    assert set(reference["parameter"]) == {"do_mg_l", "turbidity_ntu"}
    scored = _score(raw[raw["ts"] >= ts[30 * PER_DAY]], reference, config)
    turb = scored[scored["parameter"] == "turbidity_ntu"].set_index("ts")
    assert not (turb.loc[ts[30 * PER_DAY] : ts[40 * PER_DAY - 1], "qc_drift"] == 3).any()  # storm passes
    assert (turb.loc[ts[41 * PER_DAY] : ts[47 * PER_DAY - 1], "qc_drift"] == 3).all()
    # the same erratic readings with the water at its freezing point are not judged
    iced = raw.copy()
    iced.loc[(iced["parameter"] == "temp_c") & iced["ts"].isin(ts[fouled]), "value"] = -0.01
    turb_iced = _score(iced[iced["ts"] >= ts[30 * PER_DAY]], reference, config)
    turb_iced = turb_iced[turb_iced["parameter"] == "turbidity_ntu"].set_index("ts")
    assert set(turb_iced.loc[ts[fouled], "qc_drift"]) == {2}


def with_turbidity_covariate(config=CONFIG, floor: float = 0.3):
    """The shipped config with the (shipped-disabled) cross-parameter model on turbidity: log turbidity
    from log EC."""
    model = Drift(model="covariate", covariate="ec_us_cm", side="high", log=True, floor=floor)
    parameters = dict(config.parameters)
    parameters["turbidity_ntu"] = dataclasses.replace(parameters["turbidity_ntu"], drift=model)
    return dataclasses.replace(config, parameters=parameters)


def snowmelt_stream(days: int, seed: int, fouling_from: int | None = None) -> tuple[pd.DatetimeIndex, dict]:
    """A snowmelt stream: melt pulses that raise the flow carry sediment (turbidity up) and dilute the
    conductivity (EC down) together — log turbidity = −2 · log EC + c, plus sensor noise. From day
    `fouling_from` a film grows on the turbidity optics: the reading climbs ×1.35 a day (×8 in a week) at
    an unchanged conductivity."""
    rng = np.random.default_rng(seed)
    ts, series = _river(days, seed=seed)
    t_days = np.arange(len(ts)) / PER_DAY
    pulses = np.zeros(len(ts))
    for start in rng.uniform(2, days - 3, max(days // 6, 1)):  # melt pulses lasting ~2 days
        pulses += np.where((t_days >= start) & (t_days < start + 2), np.sin(np.pi * (t_days - start) / 2), 0)
    log_ec = np.log(360.0) - 0.25 * pulses + rng.normal(0, 0.005, len(ts))
    log_turb = -2.0 * (log_ec - np.log(360.0)) + np.log(4.0) + rng.normal(0, 0.05, len(ts))
    if fouling_from is not None:
        log_turb += np.where(t_days >= fouling_from, np.log(1.35) * (t_days - fouling_from), 0.0)
    series["ec_us_cm"] = np.round(np.exp(log_ec), 1)
    series["turbidity_ntu"] = np.round(np.exp(log_turb), 2)
    return ts, series


def test_theil_sen_slope_ignores_a_minority_of_faulty_points() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(5.5, 6.0, 400)
    y = -2.0 * x + rng.normal(0, 0.02, 400)
    y[:80] += rng.uniform(1, 3, 80)  # 20 % of the bins from a fouled sensor
    assert theil_sen_slope(x, y) == pytest.approx(-2.0, abs=0.15)
    assert np.polyfit(x, y, 1)[0] != pytest.approx(-2.0, abs=0.15)  # least squares is pulled away
    assert np.isnan(theil_sen_slope(np.ones(10), np.arange(10.0)))  # no spread in x: no slope


def test_covariate_model_flags_turbidity_that_leaves_conductivity_not_melt_pulses() -> None:
    config = with_turbidity_covariate()
    ts, series = snowmelt_stream(50, seed=5, fouling_from=40)
    raw = _frame(ts, series)
    reference = _reference(raw[raw["ts"] < ts[30 * PER_DAY]], config)
    turb_ref = reference.set_index("parameter").loc["turbidity_ntu"]
    assert turb_ref["model"] == "covariate"
    assert turb_ref["ratio"] == pytest.approx(-2.0, abs=0.2)  # the learned slope travels in `ratio`
    scored = _score(raw[raw["ts"] >= ts[30 * PER_DAY]], reference, config)
    turb = scored[scored["parameter"] == "turbidity_ntu"].set_index("ts")
    clean = turb.loc[ts[30 * PER_DAY] : ts[40 * PER_DAY - 1], "qc_drift"]
    assert (clean != 3).all() and (clean == 1).mean() > 0.9  # melt pulses pass (2: the window's first hours)
    assert (turb.loc[ts[44 * PER_DAY] :, "qc_drift"] == 3).all()  # ×4 and more at the same EC
    # the same turbidity without its conductivity cannot be judged
    alone = _score(raw[(raw["ts"] >= ts[30 * PER_DAY]) & (raw["parameter"] != "ec_us_cm")], reference, config)
    assert set(alone.loc[alone["parameter"] == "turbidity_ntu", "qc_drift"]) == {2}


def freezing_stream(days: int, seed: int) -> tuple[pd.DatetimeIndex, dict]:
    """A mountain stream through a winter: water at its freezing point (−0.01 °C) on days 10–20 and
    25–45, 2–4 °C otherwise; EC 365 µS/cm with slow weather and, under ice, +10 µS/cm from the salts the
    ice pushes out; a melt on day 22 dilutes EC to 250 in a few hours (water above freezing)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=days * PER_DAY, freq=STEP)
    t_days = np.arange(len(ts)) / PER_DAY
    frozen = ((t_days >= 10) & (t_days < 20)) | ((t_days >= 25) & (t_days < 45))
    temp = np.where(frozen, -0.01, 3.0 + np.sin(2 * np.pi * t_days) + rng.normal(0, 0.05, len(ts)))
    ec = 365 + 5 * np.sin(t_days / 3) + np.where(frozen, 10.0, 0.0) + rng.normal(0, 1.0, len(ts))
    melt = (t_days >= 22) & (t_days < 23)
    ec[melt] -= 115 * np.sin(np.pi * (t_days[melt] - 22))
    return ts, {"temp_c": np.round(temp, 2), "ec_us_cm": np.round(ec, 1)}


def test_ec_probe_frozen_into_ice_is_flagged_not_ice_salting_nor_a_melt() -> None:
    ts, series = freezing_stream(50, seed=9)
    t_days = np.arange(len(ts)) / PER_DAY
    # the probe is encased for 3 h at a time on days 40 and 42 (EC falls to ~190, as at Tony Grove); the
    # model judges hourly bins, so the stretches are whole UTC hours (START is 18:30 UTC)
    encased = np.zeros(len(ts), bool)
    for day in (40, 42):
        encased |= (t_days >= day + 5.5 / 24) & (t_days < day + 8.5 / 24)
    series["ec_us_cm"] = np.where(encased, np.round(series["ec_us_cm"] * 0.52, 1), series["ec_us_cm"])
    raw = _frame(ts, series)
    reference = _reference(raw[raw["ts"] < ts[36 * PER_DAY]])
    ec_ref = reference.set_index("parameter").loc["ec_us_cm"]
    assert ec_ref["model"] == "baseline" and ec_ref["threshold"] >= 50  # never below a technician's 50
    scored = _score(raw, reference)
    ec = scored[scored["parameter"] == "ec_us_cm"].set_index("ts")["qc_drift"]
    assert (ec[ts[encased]] == 3).all()
    assert not (ec[ts[~encased]] == 3).any()  # ice salting, the freeze-up and the melt pass
    assert set(ec[ts[(t_days >= 21) & (t_days < 24)]]) == {2}  # above freezing: not judged (the melt)
    # without the water temperature the model cannot tell ice from a melt: not judged
    alone = _score(raw[raw["parameter"] == "ec_us_cm"], reference)
    assert set(alone["qc_drift"]) == {2}


def test_score_file_learns_the_reference_from_the_file_itself_without_history() -> None:
    ts, series = _river(60, seed=11)
    raw = _frame(ts, series)
    weeks = (raw["parameter"] == "do_mg_l") & (raw["ts"] >= ts[40 * PER_DAY]) & (raw["ts"] < ts[50 * PER_DAY])
    raw.loc[weeks, "value"] += 2.0
    out, rejected = score_frame(raw[["station_id", "parameter", "ts", "value"]], CONFIG)
    assert rejected.empty
    assert "qc_drift" in out.columns
    do = out[out["parameter"] == "do_mg_l"].set_index("ts")
    assert (do.loc[ts[41 * PER_DAY] : ts[50 * PER_DAY - 1], "qc_drift"] == 3).all()
    assert (do.loc[: ts[40 * PER_DAY - 1], "qc_drift"] != 3).all()


def test_drift_settings_are_validated() -> None:
    raw = {"version": "t", "parameters": {"do_mg_l": {"drift": {"model": "saturation"}}}}
    with pytest.raises(ValueError, match="covariate"):
        parse_config(raw)
    raw["parameters"]["do_mg_l"]["drift"] = {"model": "arima"}
    with pytest.raises(ValueError, match="model must be one of"):
        parse_config(raw)
    with pytest.raises(ValueError, match="min_coverage"):
        parse_config({"version": "t", "drift": {"min_coverage": 0}})
    raw["parameters"]["do_mg_l"]["drift"] = {"model": "covariate"}
    with pytest.raises(ValueError, match="covariate model needs a `covariate`"):
        parse_config(raw)
    raw["parameters"]["do_mg_l"]["drift"] = {"model": "baseline", "covariate": "temp_c"}
    with pytest.raises(ValueError, match="baseline_days"):
        parse_config(raw)
    raw["parameters"]["do_mg_l"]["drift"] = {"model": "baseline", "baseline_days": 1, "within": [-1, 1]}
    with pytest.raises(ValueError, match="within"):
        parse_config(raw)
    raw["parameters"]["do_mg_l"]["drift"] = {"model": "baseline", "baseline_days": 2}
    with pytest.raises(ValueError, match="reaches past lookback_hours"):
        parse_config({**raw, "lookback_hours": 24})
    drift = {"model": "saturation", "covariate": "temp_c"}
    with pytest.raises(ValueError, match=r"drift\.window_hours"):
        parse_config({"version": "t", "lookback_hours": 6, "parameters": {"do_mg_l": {"drift": drift}}})
