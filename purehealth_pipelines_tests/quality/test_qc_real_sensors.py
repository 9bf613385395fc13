"""QC that holds up on real sensor behaviour (issues 10 and 18): high-frequency noise, stable rivers at the
sensor's resolution, stuck sensors, a spike's neighbour, logger codes and gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ioos_qc import qartod as ioos

from purehealth_pipelines.quality.config import load_config, with_station_ranges
from purehealth_pipelines.quality.qartod import score_readings
from purehealth_pipelines.quality.unify import canonicalise

CONFIG = load_config()
START = pd.Timestamp("2024-03-05 00:00", tz="Asia/Kolkata")
UNITS = {"temp_c": "°C", "do_mg_l": "mg/l", "ph": "pH", "ec_us_cm": "µS/cm"}


def _series(parameter: str, ts: pd.DatetimeIndex, values: np.ndarray, station: str = "S-1") -> pd.DataFrame:
    return pd.DataFrame(
        {"station_id": station, "parameter": parameter, "ts": ts, "value": values, "unit": UNITS[parameter]}
    )


def _score(raw: pd.DataFrame, config=CONFIG) -> pd.DataFrame:
    canonical, rejected = canonicalise(raw.assign(source="iot"))
    assert rejected.empty
    return score_readings(canonical, config, context_start=raw["ts"].min())


def _live(seconds: int = 5, hours: float = 2.0, seed: int = 11) -> pd.DataFrame:
    """A clean live sonde: slow diurnal drift, sensor noise, values printed at the 0.01 resolution."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, START + pd.Timedelta(hours=hours), freq=f"{seconds}s", inclusive="left")
    phase = np.arange(len(ts)) * seconds / 86400 * 2 * np.pi
    frames = []
    for parameter, (mean, amplitude, noise, decimals) in {
        "temp_c": (27.0, 1.5, 0.04, 2),
        "do_mg_l": (6.5, 0.8, 0.05, 2),
        "ph": (7.6, 0.15, 0.01, 2),
        "ec_us_cm": (450.0, 15.0, 1.5, 1),
    }.items():
        values = np.round(mean + amplitude * np.sin(phase) + rng.normal(0, noise, len(ts)), decimals)
        frames.append(_series(parameter, ts, values))
    return pd.concat(frames, ignore_index=True)


def test_clean_five_second_series_is_good() -> None:
    raw = _live()
    temp = raw[raw["parameter"] == "temp_c"]
    # The bug this guards against: ioos_qc's consecutive-sample rate test calls most of this noise suspect.
    naive = np.asarray(
        ioos.rate_of_change_test(
            temp["value"].to_numpy(), temp["ts"].dt.tz_localize(None).to_numpy(), 4 / 3600
        )
    )
    assert (naive == 3).mean() > 0.5
    scored = _score(raw)
    good = (scored["qc_flag"] == 1).mean()
    assert good >= 0.97, scored.groupby("parameter")["qc_flag"].value_counts()
    assert (scored["qc_rate_of_change"] == 3).mean() < 0.01


def test_injected_spike_and_step_in_five_second_series_are_flagged() -> None:
    raw = _live()
    spike_at = START + pd.Timedelta(minutes=40)
    step_from = START + pd.Timedelta(minutes=80)
    is_do, is_temp = raw["parameter"] == "do_mg_l", raw["parameter"] == "temp_c"
    raw.loc[is_do & (raw["ts"] == spike_at), "value"] += 4.0
    raw.loc[is_temp & (raw["ts"] >= step_from), "value"] += 3.0  # a sensor jump that stays
    scored = _score(raw)
    do = scored[scored["parameter"] == "do_mg_l"].set_index("ts")
    assert do.loc[spike_at, "qc_spike"] == 4 and do.loc[spike_at, "qc_flag"] == 4
    after = spike_at + pd.Timedelta(seconds=5)
    assert do.loc[after, "qc_rate_of_change"] == 1 and do.loc[after, "qc_spike"] == 1
    temp = scored[scored["parameter"] == "temp_c"].set_index("ts")
    assert temp.loc[step_from, "qc_rate_of_change"] == 3
    # flagged while the jump is inside the 10-min span, good again once the new level is the reference
    assert temp.loc[step_from + pd.Timedelta(minutes=30), "qc_flag"] == 1


def test_spike_neighbour_is_not_flagged_by_rate_of_change() -> None:
    ts = pd.date_range(START, periods=96, freq="15min")
    values = np.round(8.0 + 0.3 * np.sin(np.arange(96) / 96 * 2 * np.pi), 2)
    values[40] += 4.0
    scored = _score(_series("do_mg_l", ts, values)).set_index("ts")
    assert scored.loc[ts[40], "qc_spike"] == 4
    # QARTOD's consecutive test flags the reading after the spike (4 mg/l back down in 15 min)
    assert np.asarray(ioos.rate_of_change_test(values, ts.tz_localize(None).to_numpy(), 3 / 3600))[41] == 3
    assert scored.loc[ts[41], "qc_rate_of_change"] == 1 and scored.loc[ts[41], "qc_flag"] == 1


def test_stable_river_at_resolution_is_not_a_flat_line_but_a_stuck_sensor_is() -> None:
    ts = pd.date_range(START, periods=4 * 24 * 3, freq="15min")  # three days
    rng = np.random.default_rng(5)
    # stable pH: a slow diurnal wobble of a few hundredths, printed at 0.01, hours of identical values
    stable = np.round(
        8.61 + 0.02 * np.sin(np.arange(len(ts)) / 96 * 2 * np.pi) + rng.normal(0, 0.002, len(ts)), 2
    )
    assert pd.Series(stable).groupby((pd.Series(stable).diff() != 0).cumsum()).size().max() >= 12
    stuck = np.full(len(ts), 8.47)
    stuck[:8] = [8.5, 8.49, 8.5, 8.48, 8.49, 8.5, 8.48, 8.47]
    scored = _score(
        pd.concat(
            [_series("ph", ts, stable, "S-STABLE"), _series("ph", ts, stuck, "S-STUCK")], ignore_index=True
        )
    )
    by_station = scored.groupby("station_id")
    assert set(by_station.get_group("S-STABLE")["qc_flat_line"]) == {1}
    stuck_flags = by_station.get_group("S-STUCK").set_index("ts")["qc_flat_line"]
    assert stuck_flags.iloc[-1] == 4
    assert (stuck_flags >= 3).sum() >= len(ts) - 8 - 4 * 12 - 1  # flagged from 12 h into the stuck run


def test_ice_covered_water_at_freezing_point_is_not_a_flat_line() -> None:
    ts = pd.date_range(START, periods=4 * 24 * 3, freq="15min")
    scored = _score(_series("temp_c", ts, np.full(len(ts), -0.01)))
    assert set(scored["qc_flat_line"]) == {1}


def test_logger_codes_and_impossible_values_fail_at_once() -> None:
    ts = pd.date_range(START, periods=12, freq="15min")
    ec = np.array([372.4, 372.5, 7999, 7999, 372.9, 373.0, 373.1, 373.0, 372.8, 372.7, 372.9, 373.0])
    temp = np.array([25.0, 25.01, 25.02, -9999, -9999, -9999, 27.0, 27.01, 27.02, 27.02, 27.03, 27.02])
    ph = np.array([8.5, 8.49, 8.5, 0.0, 0.0, 0.0, 8.5, 8.51, 8.5, 8.49, 8.5, 8.5])
    scored = _score(
        pd.concat([_series("ec_us_cm", ts, ec), _series("temp_c", ts, temp), _series("ph", ts, ph)])
    )
    for parameter, code_rows in (("ec_us_cm", [2, 3]), ("temp_c", [3, 4, 5]), ("ph", [3, 4, 5])):
        one = scored[scored["parameter"] == parameter].reset_index(drop=True)
        assert (one.loc[code_rows, "qc_flag"] == 4).all(), parameter
        assert (one.loc[code_rows, "qc_syntax"] == 4).all(), parameter
    # The reading after the -9999 run is judged against the last real reading, not against -9999. Its
    # 2 °C change in 1 h is within the 4 °C/h limit (against -9999 it would be 10,000 °C per 15 min).
    temp_rows = scored[scored["parameter"] == "temp_c"].reset_index(drop=True)
    assert temp_rows.loc[6, "qc_rate_of_change"] == 1
    assert set(temp_rows.loc[[7, 8, 9, 10, 11], "qc_flag"]) == {1}


def test_a_gap_resets_the_time_series_tests() -> None:
    ts = pd.date_range(START, periods=40, freq="15min")
    values = np.round(6.5 + np.zeros(40), 2)
    values[20:] = 9.5  # after a 3 h silence the river is somewhere else (a rate of 1 mg/l/h, but no jump)
    raw = _series("do_mg_l", ts, values)
    raw = raw[(raw["ts"] < ts[10]) | (raw["ts"] >= ts[20])].copy()
    raw.loc[raw["ts"] < ts[10], "value"] += np.linspace(0, 0.5, 10)  # not flat
    scored = _score(raw).set_index("ts")
    assert scored.loc[ts[20], "qc_gap"] == 3
    assert scored.loc[ts[20], "qc_rate_of_change"] == 2  # nothing before it in its segment
    assert scored.loc[ts[20], "qc_spike"] == 2


def test_station_ranges_override_suspect_span_only() -> None:
    config = with_station_ranges(CONFIG, {"S-1": {"ph": [8.0, 9.0]}})
    assert config.station_overrides["S-1"]["ph"].gross_range.suspect == (8.0, 9.0)
    assert config.station_overrides["S-1"]["ph"].gross_range.fail == CONFIG.parameters["ph"].gross_range.fail
    ts = pd.date_range(START, periods=4, freq="15min")
    scored = _score(_series("ph", ts, np.array([7.6, 7.61, 7.62, 7.61])), config)
    assert set(scored["qc_gross_range"]) == {3}
