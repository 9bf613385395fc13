"""QARTOD scoring as pure functions: injected faults get the right flags, clean data stays clean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ioos_qc import qartod as ioos

from purehealth_pipelines.quality.config import load_config, parse_config
from purehealth_pipelines.quality.qartod import aggregate_flags, climatology_flags, score_readings
from purehealth_pipelines.quality.unify import canonicalise
from purehealth_pipelines_tests.quality.synthetic import DAY, sensor_frame

CONFIG = load_config()
CONTEXT_START = DAY - pd.Timedelta(hours=6)


def _score(raw: pd.DataFrame, **kwargs) -> pd.DataFrame:
    canonical, rejected = canonicalise(raw.assign(source="iot"))
    assert rejected.empty
    return score_readings(canonical, CONFIG, context_start=CONTEXT_START, **kwargs)


def _row(scored: pd.DataFrame, parameter: str, hhmm: str) -> pd.Series:
    at = pd.Timestamp(f"{DAY.date()} {hhmm}", tz="Asia/Kolkata")
    hit = scored[(scored["parameter"] == parameter) & (scored["ts"] == at)]
    assert len(hit) == 1, (parameter, hhmm)
    return hit.iloc[0]


def test_clean_series_stays_good() -> None:
    scored = _score(sensor_frame("S-CLEAN"))
    assert set(scored["qc_flag"]) == {1}
    assert set(scored["qc_climatology"]) == {
        2
    }  # nothing learned yet: not evaluated, does not spoil the aggregate
    assert (scored["quality"] == "good").all()


def test_spike_fails_only_the_spike() -> None:
    raw = sensor_frame("S-SPIKE")
    at = pd.Timestamp(f"{DAY.date()} 10:00", tz="Asia/Kolkata")
    raw.loc[(raw["parameter"] == "do_mg_l") & (raw["ts"] == at), "value"] += 4.0
    scored = _score(raw)
    spike = _row(scored, "do_mg_l", "10:00")
    assert spike["qc_spike"] == 4 and spike["qc_flag"] == 4 and spike["quality"] == "bad"
    assert _row(scored, "do_mg_l", "09:45")["qc_spike"] == 1
    assert _row(scored, "do_mg_l", "10:15")["qc_spike"] == 1
    assert _row(scored, "do_mg_l", "12:00")["qc_flag"] == 1
    assert set(scored.loc[scored["parameter"] != "do_mg_l", "qc_flag"]) == {1}


def test_flat_line_suspect_then_fail() -> None:
    # Windows are 12 h suspect / 24 h fail (were 3 h / 6 h: on real sonde data a stable river repeats its
    # pH for 8 h overnight, so 3 h failed good data; see qartod_thresholds.yaml). The pH sensor is stuck
    # from the first reading of the context (18:00 the day before) to the end.
    raw = sensor_frame("S-FLAT")
    raw.loc[raw["parameter"] == "ph", "value"] = 7.42
    scored = _score(raw)
    # 12 h suspect window = 48 steps of 15 min: the 49th identical value (06:00) is the first flagged.
    assert _row(scored, "ph", "05:45")["qc_flat_line"] == 1
    assert _row(scored, "ph", "06:00")["qc_flat_line"] == 3
    assert _row(scored, "ph", "17:45")["qc_flat_line"] == 3
    assert _row(scored, "ph", "18:00")["qc_flat_line"] == 4
    assert _row(scored, "ph", "18:00")["qc_flag"] == 4
    assert set(scored.loc[scored["parameter"] != "ph", "qc_flat_line"]) == {1}


def test_out_of_range_fail_and_suspect() -> None:
    raw = sensor_frame("S-RANGE", parameters={"temp_c": (27.0, 0.5, 0.01, "°C")})
    for hhmm, value in (("09:00", 60.0), ("16:00", 39.5)):
        at = pd.Timestamp(f"{DAY.date()} {hhmm}", tz="Asia/Kolkata")
        raw.loc[raw["ts"] == at, "value"] = value
    scored = _score(raw)
    assert _row(scored, "temp_c", "09:00")["qc_gross_range"] == 4  # outside the sensor range -5–50 °C
    assert _row(scored, "temp_c", "16:00")["qc_gross_range"] == 3  # outside Maharashtra 12–38 °C
    assert _row(scored, "temp_c", "12:00")["qc_gross_range"] == 1


def test_gap_flags_the_first_reading_after_the_silence() -> None:
    raw = sensor_frame("S-GAP")
    lo = pd.Timestamp(f"{DAY.date()} 08:00", tz="Asia/Kolkata")
    raw = raw[~((raw["ts"] >= lo) & (raw["ts"] < lo + pd.Timedelta(hours=2)))]
    scored = _score(raw)
    after = _row(scored, "do_mg_l", "10:00")
    assert after["qc_gap"] == 3 and after["qc_flag"] == 3 and after["quality"] == "suspect"
    assert _row(scored, "do_mg_l", "10:15")["qc_gap"] == 1
    assert _row(scored, "do_mg_l", "07:45")["qc_gap"] == 1


def test_series_starting_inside_the_window_after_silence_is_gap_flagged() -> None:
    raw = sensor_frame("S-LATE", start=DAY + pd.Timedelta(hours=3))
    scored = _score(raw)
    assert _row(scored, "ph", "03:00")["qc_gap"] == 3
    assert _row(scored, "ph", "03:15")["qc_gap"] == 1


def test_missing_value_is_missing_everywhere() -> None:
    raw = sensor_frame("S-NULL")
    at = pd.Timestamp(f"{DAY.date()} 11:00", tz="Asia/Kolkata")
    raw.loc[(raw["parameter"] == "ec_us_cm") & (raw["ts"] == at), "value"] = np.nan
    scored = _score(raw)
    row = _row(scored, "ec_us_cm", "11:00")
    assert row["qc_flag"] == 9 and row["quality"] == "missing"
    # its neighbours are judged against each other, not against the hole
    assert _row(scored, "ec_us_cm", "11:15")["qc_spike"] == 1


def test_station_override_widens_gross_range() -> None:
    raw = pd.concat(
        [
            sensor_frame("IOT-PUNE-MULA-01", parameters={"ec_us_cm": (9000.0, 100.0, 5.0, "µS/cm")}),
            sensor_frame("IOT-KARAD-KRISHNA-01", parameters={"ec_us_cm": (9000.0, 100.0, 5.0, "µS/cm")}),
        ]
    )
    scored = _score(raw)
    by_station = scored.groupby("station_id")["qc_gross_range"].agg(set)
    assert by_station["IOT-PUNE-MULA-01"] == {1}
    assert by_station["IOT-KARAD-KRISHNA-01"] == {3}


def test_lab_sources_only_get_range_tests() -> None:
    raw = pd.DataFrame(
        {
            "station_id": ["NWMP-1153"] * 3,
            "parameter": ["bod_mg_l", "bod_mg_l", "fc_mpn_100ml"],
            "ts": [DAY] * 3,
            "source": ["cpcb_nwmp_min", "cpcb_nwmp_max", "mpcb"],
            "value": [1.4, 4.8, 1600.0],
            "unit": ["mg/l", "mg/l", "MPN/100ml"],
            "censored": [None, None, ">"],
        }
    )
    canonical, _ = canonicalise(raw)
    scored = score_readings(canonical, CONFIG)
    assert (
        set(scored["qc_spike"]) == {2} and set(scored["qc_flat_line"]) == {2} and set(scored["qc_gap"]) == {2}
    )
    assert set(scored["qc_flag"]) == {1}
    assert scored.loc[scored["source"] == "mpcb", "censored"].tolist() == [">"]


def test_climatology_matches_ioos_qc() -> None:
    """The vectorised join gives what ioos_qc.climatology_test gives with one member per month."""
    ts = pd.date_range("2024-01-01", "2024-12-31", freq="D", tz="Asia/Kolkata")
    rng = np.random.default_rng(3)
    values = rng.uniform(2.0, 10.0, len(ts))
    frame = pd.DataFrame({"station_id": "S", "parameter": "do_mg_l", "ts": ts, "value": values})
    spans = pd.DataFrame(
        {
            "station_id": "S",
            "parameter": "do_mg_l",
            "month": range(1, 13),
            "suspect_min": [3.0 + 0.1 * m for m in range(12)],
            "suspect_max": [8.0 + 0.1 * m for m in range(12)],
        }
    )
    spans = spans[spans["month"] != 7]  # a month with no span: not evaluated
    ours = climatology_flags(frame, spans, np.ones(len(frame), bool))
    config = ioos.ClimatologyConfig()
    for row in spans.itertuples():
        config.add(tspan=(row.month, row.month), vspan=(row.suspect_min, row.suspect_max), period="month")
    local = ts.tz_convert("Asia/Kolkata").tz_localize(None)
    # ioos_qc compares the period inclusively at both ends, so (m, m) is exactly calendar month m.
    theirs = np.asarray(ioos.climatology_test(config, values, local, np.full(len(ts), np.nan)))
    assert (ours == theirs).all()
    assert set(ours) == {1, 2, 3}


def test_aggregate_precedence() -> None:
    flags = [np.array([1, 2, 9, 1, 2]), np.array([3, 2, 9, 4, 1]), np.array([1, 2, 9, 9, 9])]
    assert aggregate_flags(flags).tolist() == [3, 2, 9, 4, 1]


def test_unit_conversion_and_rejection() -> None:
    raw = pd.DataFrame(
        {
            "station_id": "S",
            "parameter": ["temp_c", "ec_us_cm", "water_level_m", "do_mg_l", "nonsense_code"],
            "ts": [DAY] * 5,
            "source": "iot",
            "value": [77.0, 1.2, 350.0, 6.0, 1.0],
            "unit": ["degF", "mS/cm", "cm", "furlongs", "x"],
        }
    )
    canonical, rejected = canonicalise(raw)
    got = dict(
        zip(canonical["parameter"], zip(canonical["value"], canonical["unit"], strict=True), strict=True)
    )
    assert got["temp_c"] == (pytest.approx(25.0), "°C")
    assert got["ec_us_cm"] == (pytest.approx(1200.0), "µS/cm")
    assert got["water_level_m"] == (pytest.approx(3.5), "m")
    assert sorted(rejected["reason"]) == ["unit cannot be converted to canonical", "unknown parameter code"]


def test_thresholds_file_is_validated() -> None:
    with pytest.raises(ValueError, match="within fail span"):
        parse_config(
            {"version": "x", "parameters": {"ph": {"gross_range": {"fail": [4, 10], "suspect": [2, 9]}}}}
        )
    with pytest.raises(ValueError, match="version"):
        parse_config({"parameters": {}})
    assert CONFIG.version
