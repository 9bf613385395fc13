"""Judge QC against people: read labelled sensor exports and score flags against technicians' verdicts.

Pure functions; used by `bench/bench_qc_real.py` and the tests. The labelled data are the Logan River
Observatory's 15-minute sonde exports as published by the pyhydroqc project (`../shared/data/lro/`,
see its README): per sensor a raw value, the technician's corrected value and a qualifier code.

A reading is *bad* (the technician judged it wrong) when a qualifier is set, when the raw or corrected value
is -9999 or the corrected value was deleted, or when the correction is larger than the sensor's tolerance
(LRO_TOLERANCE). Labels are incomplete (a frozen DO sensor at one site was left unlabelled), so measured
precision is a lower bound. A reading is *flagged* when its qc_flag is 3 (suspect) or 4 (fail).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# LRO column prefix -> (canonical parameter code, unit as the sonde reports it)
LRO_PARAMETERS: dict[str, tuple[str, str]] = {
    "temp": ("temp_c", "°C"),
    "cond": ("ec_us_cm", "µS/cm"),
    "ph": ("ph", "pH"),
    "do": ("do_mg_l", "mg/l"),
    "turb": ("turbidity_ntu", "NTU"),
}
# A correction larger than this means the technician judged the raw value wrong (LRO README).
LRO_TOLERANCE: dict[str, float] = {"temp": 0.5, "cond": 50.0, "ph": 0.5, "do": 1.0, "turb": 10.0}
LRO_UTC_OFFSET = pd.Timedelta(hours=7)  # files are local standard time, UTC-7, no DST shift
NO_DATA = -9999.0
FLAGGED = (3, 4)


def read_lro_export(path: str | Path, station_id: str) -> pd.DataFrame:
    """One LRO export -> long rows (station_id, parameter, ts UTC, value, unit[, bad]).

    `bad` (bool) is present when the file carries the technicians' `_cor`/`_qual` columns. Rows whose raw
    value is empty are dropped (nothing was reported, nothing to judge)."""
    wide = pd.read_csv(path, na_values=["NULL", ""], keep_default_na=False)
    ts = pd.to_datetime(wide["datetime"], format="%Y-%m-%d %H:%M").dt.tz_localize("UTC") + LRO_UTC_OFFSET
    frames = []
    for prefix, (parameter, unit) in LRO_PARAMETERS.items():
        if prefix not in wide.columns:
            continue
        raw = pd.to_numeric(wide[prefix], errors="coerce")
        frame = pd.DataFrame(
            {"station_id": station_id, "parameter": parameter, "ts": ts, "value": raw, "unit": unit}
        )
        if f"{prefix}_cor" in wide.columns:
            corrected = pd.to_numeric(wide[f"{prefix}_cor"], errors="coerce")
            qualifier = wide.get(f"{prefix}_qual")
            has_qualifier = qualifier.notna() if qualifier is not None else False
            frame["bad"] = (
                has_qualifier
                | (raw == NO_DATA)
                | corrected.isna()
                | (corrected == NO_DATA)
                | ((corrected - raw).abs() > LRO_TOLERANCE[prefix])
            ).to_numpy(dtype=bool)
            frame["bad_kind"] = bad_kind(raw, corrected, has_qualifier, LRO_TOLERANCE[prefix])
        frames.append(frame[raw.notna().to_numpy()])
    return pd.concat(frames, ignore_index=True)


# What the technician did to a reading judged wrong, in the order bad_kind() tests them.
BAD_KINDS: tuple[str, ...] = ("logger code", "deleted", "corrected", "qualifier only")


def bad_kind(
    raw: pd.Series, corrected: pd.Series, has_qualifier: pd.Series | bool, tolerance: float
) -> np.ndarray:
    """Per reading: how the technician marked it wrong ("" when they did not), first match of BAD_KINDS.

    * logger code — the raw value is the logger's -9999;
    * deleted — the corrected value is empty or -9999 (a stretch the technician removed);
    * corrected — the correction (drift, offset) exceeds the labelling tolerance;
    * qualifier only — a qualifier on a value kept (or corrected by less than the tolerance).
    Recall is dominated by the largest kind, so the bench reports the missed readings by it."""
    raw_v, cor_v = raw.to_numpy(dtype=float), corrected.to_numpy(dtype=float)
    qualified = np.broadcast_to(np.asarray(has_qualifier, dtype=bool), raw_v.shape)
    with np.errstate(invalid="ignore"):
        conditions = [
            raw_v == NO_DATA,
            np.isnan(cor_v) | (cor_v == NO_DATA),
            np.abs(cor_v - raw_v) > tolerance,
            qualified,
        ]
    return np.select(conditions, list(BAD_KINDS), default="")


# Main Street's calibration files: `MainStreet_<sensor>_calib_dates.csv` -> canonical parameter
LRO_CALIBRATION_FILES: dict[str, str] = {"do": "do_mg_l", "cond": "ec_us_cm", "ph": "ph"}


def read_lro_calibrations(path: str | Path, station_id: str, parameter: str) -> pd.DataFrame:
    """An LRO calibration file -> long rows (station_id, parameter, ts UTC), one per calibration.

    The files list drift periods: a title row (e.g. `DO,,`), then `start,end,gap` — the period between two
    calibrations (local time, UTC−7 like the exports) and the offset found at its end. Both ends are
    calibrations (the sensor was serviced), so both are returned, once each."""
    table = pd.read_csv(path, skiprows=1, encoding="utf-8-sig")
    times = pd.concat([table["start"], table["end"]]).dropna().drop_duplicates()
    ts = pd.to_datetime(times, format="%Y-%m-%d %H:%M").dt.tz_localize("UTC") + LRO_UTC_OFFSET
    return pd.DataFrame(
        {"station_id": station_id, "parameter": parameter, "ts": ts.sort_values().to_numpy()}
    ).reset_index(drop=True)


def confusion(flagged: np.ndarray, bad: np.ndarray) -> dict[str, float]:
    """Counts, share flagged, precision and recall of `flagged` against `bad` (NaN where undefined)."""
    flagged, bad = np.asarray(flagged, bool), np.asarray(bad, bool)
    tp = int((flagged & bad).sum())
    n_flagged, n_bad = int(flagged.sum()), int(bad.sum())
    return {
        "n": len(flagged),
        "bad": n_bad,
        "flagged": n_flagged,
        "share_flagged": n_flagged / len(flagged) if len(flagged) else np.nan,
        "true_pos": tp,
        "precision": tp / n_flagged if n_flagged else np.nan,
        "recall": tp / n_bad if n_bad else np.nan,
    }


def evaluate(scored: pd.DataFrame, by: list[str], flag_column: str = "qc_flag") -> pd.DataFrame:
    """confusion() per group of `scored` (needs `bad` and the flag column)."""
    rows = []
    for key, group in scored.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        flagged = group[flag_column].isin(FLAGGED).to_numpy()
        rows.append({**dict(zip(by, key, strict=True)), **confusion(flagged, group["bad"].to_numpy())})
    return pd.DataFrame(rows)


def per_test(scored: pd.DataFrame, tests: list[str]) -> pd.DataFrame:
    """For each test: how many readings it flags, how many of those are bad, and how many bad readings
    only it flags (its unique contribution to recall)."""
    bad = scored["bad"].to_numpy(dtype=bool)
    flagged = {t: scored[f"qc_{t}"].isin(FLAGGED).to_numpy() for t in tests}
    rows = []
    for test in tests:
        others = np.zeros(len(scored), bool)
        for other in tests:
            if other != test:
                others |= flagged[other]
        stats = confusion(flagged[test], bad)
        stats["only_this_test_true_pos"] = int((flagged[test] & ~others & bad).sum())
        rows.append({"test": test, **stats})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, columns: list[str], formats: dict[str, str] | None = None) -> str:
    """A small markdown table (for the bench output and the README)."""
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        cells = []
        for column in columns:
            value = getattr(row, column)
            fmt = formats.get(column)
            cells.append("–" if isinstance(value, float) and np.isnan(value) else (fmt or "{}").format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
