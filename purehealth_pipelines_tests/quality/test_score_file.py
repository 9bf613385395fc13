"""`purehealth quality score-file` and the climatology it learns from history (small synthetic files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from purehealth_pipelines.cli import main
from purehealth_pipelines.quality.climatology import climatology_spans, climatology_stats
from purehealth_pipelines.quality.config import ClimatologySettings


def _export(start: str, days: int, level: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 96, freq="15min", tz="-07:00")
    values = np.round(
        level + 0.3 * np.sin(np.arange(len(ts)) / 96 * 2 * np.pi) + rng.normal(0, 0.05, len(ts)), 2
    )
    return pd.DataFrame({"station_id": "LRO-X", "parameter": "do_mg_l", "ts": ts, "value": values})


def test_score_file_adds_flags_with_ranges_and_history(tmp_path) -> None:
    history = pd.concat([_export("2017-02-01", 28, 11.5, 1), _export("2018-02-01", 28, 11.6, 2)])
    readings = _export("2019-02-01", 10, 11.5, 3)
    readings.loc[100:150, "value"] += 2.5  # a drifted sensor: inside the site range, outside February's span
    readings.loc[300, "value"] = 7999  # logger code
    readings.loc[500, "value"] = 7.5  # inside Maharashtra's DO span, below this site's own range
    history.assign(ts=history["ts"].map(lambda t: t.isoformat())).to_csv(tmp_path / "h.csv", index=False)
    readings.assign(ts=readings["ts"].map(lambda t: t.isoformat())).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "ranges.yaml").write_text(yaml.safe_dump({"LRO-X": {"do_mg_l": [8, 15]}}))
    code = main(
        [
            "quality", "score-file", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"),
            "--station-ranges", str(tmp_path / "ranges.yaml"), "--history", str(tmp_path / "h.csv"),
        ]
    )  # fmt: skip
    assert code == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == len(readings) and list(out.columns[:4]) == ["station_id", "parameter", "ts", "value"]
    assert {"qc_flag", "qc_climatology", "qc_flat_line", "qc_rate_of_change"} <= set(out.columns)
    assert out.loc[300, "qc_flag"] == 4 and out.loc[300, "qc_syntax"] == 4
    assert (out.loc[110:150, "qc_climatology"] == 3).all()
    assert out.loc[500, "qc_gross_range"] == 3
    clean = out.drop(index=[*range(95, 160), 300, 500])
    assert (clean["qc_flag"] == 1).mean() > 0.97
    assert pd.to_datetime(out["ts"], format="ISO8601").iloc[0] == pd.Timestamp("2019-02-01", tz="-07:00")


def test_climatology_learns_from_every_reading_not_failed_and_widens_for_short_history() -> None:
    ts = pd.date_range("2018-06-01", periods=30 * 24, freq="h", tz="Asia/Kolkata")
    history = pd.DataFrame(
        {
            "station_id": "S",
            "parameter": "ph",
            "ts": ts,
            "value": np.linspace(9.2, 9.6, len(ts)),
            "qc_flag": 3,
        }
    )
    history.loc[:9, "qc_flag"] = 4  # failed readings are not learned from
    history.loc[:9, "value"] = 0.0
    base = ClimatologySettings(quantiles=(0.0, 1.0), margin=0.1, min_samples=30)
    stats = climatology_stats(history, base)
    june = stats[stats["month"] == 6].iloc[0]
    # suspect (3) readings outside a gross-range suspect span still count: the span is not truncated
    assert june["q_low"] > 9.0 and june["q_high"] == 9.6 and june["n_years"] == 1
    narrow = climatology_spans(stats, base, "v")
    wide = climatology_spans(stats, ClimatologySettings((0.0, 1.0), 0.1, 30, short_history_factor=2.0), "v")
    floor = climatology_spans(stats, ClimatologySettings((0.0, 1.0), 0.1, 30, min_margin={"ph": 0.5}), "v")
    width = lambda s: float((s["suspect_max"] - s["suspect_min"]).iloc[0])  # noqa: E731
    assert width(wide) > width(narrow)
    assert float(floor["suspect_max"].iloc[0]) == pytest.approx(9.6 + 0.5)
    pooled = climatology_stats(history, ClimatologySettings(neighbour_months=1))
    assert set(pooled["month"]) == {5, 6, 7}


def _sonde(days: int, seed: int) -> pd.DataFrame:
    """Temperature and DO of one sonde, DO at 85 % of the saturation its temperature allows."""
    from purehealth_pipelines.quality.drift import oxygen_saturation_mg_l

    rng = np.random.default_rng(seed)
    ts = pd.date_range("2019-02-01", periods=days * 96, freq="15min", tz="-07:00")
    phase = np.arange(len(ts)) / 96 * 2 * np.pi
    temp = np.round(4 + 2 * np.sin(phase / 9) + 1.0 * np.sin(phase), 2)
    do = np.round(0.85 * oxygen_saturation_mg_l(temp) + rng.normal(0, 0.05, len(ts)), 2)
    return pd.concat(
        [
            pd.DataFrame({"station_id": "LRO-X", "parameter": "temp_c", "ts": ts, "value": temp}),
            pd.DataFrame({"station_id": "LRO-X", "parameter": "do_mg_l", "ts": ts, "value": do}),
        ],
        ignore_index=True,
    )


def test_score_file_drift_with_calibrations(tmp_path) -> None:
    readings = _sonde(40, 4)
    ts = readings["ts"]
    calibrated_at = pd.Timestamp("2019-03-01 10:00", tz="-07:00")
    drifted = (readings["parameter"] == "do_mg_l") & (ts >= pd.Timestamp("2019-02-20", tz="-07:00"))
    readings.loc[drifted & (ts < calibrated_at), "value"] += 2.2  # until the technician recalibrates
    readings.assign(ts=ts.map(lambda t: t.isoformat())).to_csv(tmp_path / "in.csv", index=False)
    pd.DataFrame(
        {"station_id": ["LRO-X"], "parameter": ["do_mg_l"], "ts": [calibrated_at.isoformat()]}
    ).to_csv(tmp_path / "calibrations.csv", index=False)
    outputs = {}
    for name, extra in (
        ("plain", []),
        ("calibrated", ["--calibrations", str(tmp_path / "calibrations.csv")]),
    ):
        code = main(
            [
                "quality",
                "score-file",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / f"{name}.csv"),
                *extra,
            ]
        )
        assert code == 0
        out = pd.read_csv(tmp_path / f"{name}.csv")
        out["ts"] = pd.to_datetime(out["ts"], format="ISO8601", utc=True)
        outputs[name] = out[out["parameter"] == "do_mg_l"].set_index("ts")["qc_drift"]
    plain, calibrated = outputs["plain"], outputs["calibrated"]
    during = (plain.index >= pd.Timestamp("2019-02-21 12:00", tz="-07:00")) & (plain.index < calibrated_at)
    after = plain.index >= calibrated_at
    assert (plain[during] == 3).all() and (calibrated[during] == 3).all()
    assert (plain[after] == 3).sum() > 0  # the trailing day still holds drifted hours
    assert not (calibrated[after] == 3).any()  # the calibration restarted the window


def test_lro_calibration_files_are_read_as_calibration_times(tmp_path) -> None:
    from purehealth_pipelines.quality.evaluation import read_lro_calibrations

    (tmp_path / "cal.csv").write_text(
        "\ufeffDO,,\r\nstart,end,gap\r\n2017-01-01 00:00,2017-01-15 14:00,-0.25\r\n"
        "2017-01-15 14:00,2017-02-01 09:30,0.1\r\n"
    )
    frame = read_lro_calibrations(tmp_path / "cal.csv", "LRO-MAINSTREET", "do_mg_l")
    assert list(frame.columns) == ["station_id", "parameter", "ts"]
    # local UTC−7 -> UTC, each calibration once (an end is the next period's start)
    assert list(frame["ts"]) == [
        pd.Timestamp("2017-01-01 07:00", tz="UTC"),
        pd.Timestamp("2017-01-15 21:00", tz="UTC"),
        pd.Timestamp("2017-02-01 16:30", tz="UTC"),
    ]


def test_lro_labels_say_what_the_technician_did(tmp_path) -> None:
    """Each labelled reading is bad or not by the data README's rule, and its kind (logger code, deleted
    stretch, correction beyond tolerance, qualifier only) is what the bench breaks missed readings down by."""
    from purehealth_pipelines.quality.evaluation import read_lro_export

    (tmp_path / "site.csv").write_text(
        "datetime,turb,turb_cor,turb_qual,cond,cond_cor,cond_qual\n"
        "2019-10-01 00:00,5.1,5.1,NULL,350.0,350.4,NULL\n"  # clean (EC corrected by < 50 µS/cm)
        "2019-10-01 00:15,24.0,-9999,NULL,350.0,349.8,4\n"  # turbidity deleted; EC qualified only
        "2019-10-01 00:30,-9999,-9999,NULL,350.0,410.0,NULL\n"  # logger code; EC offset beyond tolerance
        "2019-10-01 00:45,6.0,,NULL,,,NULL\n"  # deleted (empty correction); EC not reported at all
    )
    frame = read_lro_export(tmp_path / "site.csv", "LRO-TEST")
    turb = frame[frame["parameter"] == "turbidity_ntu"]
    ec = frame[frame["parameter"] == "ec_us_cm"]
    assert list(turb["bad"]) == [False, True, True, True]
    assert list(turb["bad_kind"]) == ["", "deleted", "logger code", "deleted"]
    assert list(ec["bad"]) == [False, True, True]
    assert list(ec["bad_kind"]) == ["", "qualifier only", "corrected"]
