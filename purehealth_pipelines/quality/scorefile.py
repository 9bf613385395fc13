"""QC of a sensor export outside the warehouse (`purehealth quality score-file`): same tests, same thresholds.

For operators checking a file before import and for evaluating QC against labels (bench/bench_qc_real.py).
Pure apart from the CSV/YAML readers at the bottom.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from purehealth_pipelines.quality.climatology import climatology_spans, climatology_stats
from purehealth_pipelines.quality.config import QcConfig, with_station_ranges
from purehealth_pipelines.quality.drift import learn_drift_reference
from purehealth_pipelines.quality.qartod import QC_COLUMNS, score_readings
from purehealth_pipelines.quality.unify import CANONICAL_UNITS, canonicalise

INPUT_COLUMNS = ("station_id", "parameter", "ts", "value")
KEY = ["station_id", "parameter", "ts"]
DEFAULT_SOURCE = "iot"  # a sensor export: every sensor test applies


def _canonical(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = frame.copy()
    if "source" not in rows.columns:
        rows["source"] = DEFAULT_SOURCE
    if "unit" not in rows.columns:
        rows["unit"] = rows["parameter"].map(CANONICAL_UNITS)  # no unit column: values are canonical
    rows["station_id"] = rows["station_id"].astype(str)
    return canonicalise(rows)


def learn_climatology(history: pd.DataFrame, config: QcConfig) -> pd.DataFrame:
    """Score the history first (without climatology), then learn monthly spans from every reading that
    was not failed — the same rule as the ["core","qc_climatology"] asset."""
    canonical, _ = _canonical(history)
    if canonical.empty:
        return pd.DataFrame()
    scored = score_readings(canonical, config, context_start=canonical["ts"].min(), now=canonical["ts"].max())
    stats = climatology_stats(scored, config.climatology)
    return climatology_spans(stats, config.climatology, "history")


def learn_reference(
    readings: pd.DataFrame, config: QcConfig, calibrations: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The drift test's per-station reference learned from `readings` (scored first without it, so
    readings the rule tests fail do not teach the model) — what ["core","qc_drift_reference"] does."""
    canonical, _ = _canonical(readings)
    if canonical.empty:
        return pd.DataFrame()
    scored = score_readings(canonical, config, context_start=canonical["ts"].min(), now=canonical["ts"].max())
    return learn_drift_reference(scored, config, calibrations=calibrations)


def score_frame(
    readings: pd.DataFrame,
    config: QcConfig,
    *,
    station_ranges: dict | None = None,
    history: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
    calibrations: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(input rows + qc_flag, per-test flags and quality; rows that could not be scored, with a reason).

    `station_ranges` ({station: {parameter: [low, high]}}) become the stations' suspect spans; `history`
    (same columns as `readings`) is what the climatology and the drift test's reference are learned from;
    a station/parameter without history learns its drift reference from `readings` themselves (robust
    statistics: a fault lasting a minority of the file does not become the norm). `calibrations`
    (station_id, parameter, ts) reset the drift test's window. `now` defaults to the newest reading (an
    export is judged as of its own end, not of today)."""
    missing = [c for c in INPUT_COLUMNS if c not in readings.columns]
    if missing:
        raise ValueError(f"input lacks columns {missing}; needs {list(INPUT_COLUMNS)}")
    config = with_station_ranges(config, station_ranges or {})
    has_history = history is not None and len(history) > 0
    climatology = learn_climatology(history, config) if has_history else None
    reference = learn_reference(history, config, calibrations) if has_history else pd.DataFrame()
    own = learn_reference(readings, config, calibrations)
    if len(own):
        # A station/parameter the history does not cover (a sensor added since) learns from the file.
        known = set(zip(reference.get("station_id", []), reference.get("parameter", []), strict=True))
        fresh = [(s, p) not in known for s, p in zip(own["station_id"], own["parameter"], strict=True)]
        reference = pd.concat([reference, own[fresh]], ignore_index=True) if len(reference) else own
    canonical, rejected = _canonical(readings)
    now = now if now is not None else (canonical["ts"].max() if len(canonical) else None)
    scored = score_readings(
        canonical,
        config,
        climatology=climatology,
        context_start=canonical["ts"].min() if len(canonical) else None,
        now=now,
        drift_reference=reference,
        calibrations=calibrations,
    )
    flags = scored[[*KEY, "value", "qc_flag", *QC_COLUMNS, "quality"]].rename(
        columns={"value": "value_canonical"}
    )
    flags = flags.drop_duplicates(subset=KEY)
    out = readings.copy()
    out["station_id"] = out["station_id"].astype(str)
    out["ts"] = pd.to_datetime(out["ts"], utc=True, format="ISO8601")
    out = out.merge(flags, on=KEY, how="left", validate="many_to_one")
    for column in ("qc_flag", *QC_COLUMNS):
        out[column] = out[column].astype("Int16")
    return out, rejected


def read_input(path: str | Path) -> pd.DataFrame:
    """A long CSV export: station_id, parameter, ts (ISO 8601 with offset), value[, unit, source]."""
    frame = pd.read_csv(path, dtype={"station_id": "str", "parameter": "str"})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def read_calibrations(path: str | Path) -> pd.DataFrame:
    """Calibration times, long CSV: station_id, parameter, ts (ISO 8601 with offset)."""
    frame = pd.read_csv(path, dtype={"station_id": "str", "parameter": "str"})
    missing = [c for c in ("station_id", "parameter", "ts") if c not in frame.columns]
    if missing:
        raise ValueError(f"calibrations lack columns {missing}; needs station_id, parameter, ts")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame[["station_id", "parameter", "ts"]]


def read_station_ranges(path: str | Path) -> dict:
    """`{station_id: {parameter: [low, high]}}` (the LRO site_ranges.yaml shape)."""
    return yaml.safe_load(Path(path).read_text()) or {}
