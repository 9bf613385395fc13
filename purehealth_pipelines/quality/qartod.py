"""QARTOD quality scoring of canonical readings: pure functions over DataFrames, built on ioos_qc 3.0.

Flags follow QARTOD/IOOS: 1 pass, 2 not evaluated, 3 suspect, 4 fail, 9 missing; the aggregate qc_flag is
the worst flag with precedence 4 > 3 > 1 > 2 > 9 (ioos_qc.qartod.qartod_compare; water_quality.md §3).

Speed: one daily partition holds ~1,800 series (300 stations × 6 parameters). Calling ioos_qc once per
series costs ~1 ms of overhead each, i.e. seconds per day. Instead each test is called once per
*parameter* on the series laid end to end, and the few rows where a test would look across the seam
between two series are set explicitly:

* gross range (elementwise) — one ioos_qc call per parameter, plus one per per-station override;
* spike — series separated by one NaN, which ioos_qc turns into "not evaluated" at each end (exactly what
  it returns at the ends of a single series);
* rate of change — the first reading of each series has no predecessor: "not evaluated";
* flat line — ioos_qc counts a window in observations (threshold ÷ median interval); series with the same
  (parameter, sampling interval) are scored together and readings with fewer than a full window of
  history in their own series pass, as ioos_qc does at the start of a series;
* gap — ioos_qc time_gap_test; the first reading of each series is judged against the start of the
  context read before the window (no reading in the lookback = a silence at least that long);
* climatology — ioos_qc's ClimatologyConfig walks its members per series, so the same rule (suspect
  outside the month's span, not evaluated where no span is known) is applied here with one vectorised
  join; a test checks it agrees with ioos_qc.climatology_test.

Readings without a value (sensor sent null) are "missing" (9) in every test and take no part in the
time-series tests, so their neighbours are judged against real readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ioos_qc import qartod

from purehealth_pipelines.quality.config import TESTS, ParameterThresholds, QcConfig

PASS, NOT_EVALUATED, SUSPECT, FAIL, MISSING = 1, 2, 3, 4, 9
QC_COLUMNS: tuple[str, ...] = tuple(f"qc_{test}" for test in TESTS)
QUALITY_LABELS = {
    PASS: "good",
    SUSPECT: "suspect",
    FAIL: "bad",
    MISSING: "missing",
    NOT_EVALUATED: "not evaluated",
}
SERIES_KEY = ["station_id", "parameter", "source"]


def aggregate_flags(flags: list[np.ndarray]) -> np.ndarray:
    """Worst flag per row with QARTOD precedence 4 > 3 > 1 > 2 > 9 (ioos_qc.qartod.qartod_compare)."""
    return np.asarray(qartod.qartod_compare([np.asarray(f) for f in flags])).astype(np.int16)


def _thresholds(config: QcConfig, station: str | None, parameter: str) -> ParameterThresholds | None:
    if station is not None:
        override = config.station_overrides.get(station, {}).get(parameter)
        if override is not None:
            return override
    return config.parameters.get(parameter)


def _series_layout(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(series id, position within series) for a frame sorted by SERIES_KEY + ts."""
    series_id = frame.groupby(SERIES_KEY, sort=False).ngroup().to_numpy() if len(frame) else np.zeros(0, int)
    starts = np.r_[True, series_id[1:] != series_id[:-1]] if len(series_id) else np.zeros(0, bool)
    start_index = np.maximum.accumulate(np.where(starts, np.arange(len(series_id)), 0))
    position = np.arange(len(series_id)) - start_index
    return series_id, position


def _source_has(frame: pd.DataFrame, config: QcConfig, test: str) -> np.ndarray:
    sources = frame["source"].to_numpy(dtype=object)
    applicable = {s for s in pd.unique(sources) if test in config.tests_for(s)}
    return np.isin(sources, list(applicable)) if applicable else np.zeros(len(frame), bool)


def gross_range_flags(frame: pd.DataFrame, config: QcConfig, eligible: np.ndarray) -> np.ndarray:
    """ioos_qc gross_range_test per parameter, then per-station overrides; 2 where no thresholds exist."""
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    parameters = frame["parameter"].to_numpy(dtype=object)
    stations = frame["station_id"].to_numpy(dtype=object)
    for parameter in pd.unique(parameters[eligible]):
        base = config.parameters.get(parameter)
        mask = eligible & (parameters == parameter)
        if base is not None and base.gross_range is not None:
            flags[mask] = qartod.gross_range_test(
                values[mask], fail_span=base.gross_range.fail, suspect_span=base.gross_range.suspect
            )
        for station, by_parameter in config.station_overrides.items():
            override = by_parameter.get(parameter)
            if override is None or override.gross_range is None:
                continue
            station_mask = mask & (stations == station)
            if station_mask.any():
                flags[station_mask] = qartod.gross_range_test(
                    values[station_mask],
                    fail_span=override.gross_range.fail,
                    suspect_span=override.gross_range.suspect,
                )
    return flags


def climatology_flags(
    frame: pd.DataFrame, climatology: pd.DataFrame | None, eligible: np.ndarray
) -> np.ndarray:
    """Suspect (3) outside the station/parameter/IST-month span, pass (1) inside, 2 where no span is known.

    Same rule as ioos_qc.qartod.climatology_test with one member per month (vspan only: QARTOD's
    climatology test is suspect-only), applied as one join instead of a per-series walk.
    `climatology` columns: station_id, parameter, month (1–12), suspect_min, suspect_max.
    """
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    if climatology is None or climatology.empty or not eligible.any():
        return flags
    months = frame["ts"].dt.tz_convert("Asia/Kolkata").dt.month.to_numpy()
    keys = pd.DataFrame(
        {
            "station_id": frame["station_id"].to_numpy(),
            "parameter": frame["parameter"].to_numpy(),
            "month": months,
        }
    )
    spans = climatology[["station_id", "parameter", "month", "suspect_min", "suspect_max"]].astype(
        {"month": "int64"}
    )
    joined = keys.merge(spans, on=["station_id", "parameter", "month"], how="left", validate="many_to_one")
    low = joined["suspect_min"].to_numpy(dtype=float)
    high = joined["suspect_max"].to_numpy(dtype=float)
    values = frame["value"].to_numpy(dtype=float)
    known = eligible & ~np.isnan(low) & ~np.isnan(high)
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    flags[known] = np.where(outside[known], SUSPECT, PASS)
    return flags


def _spike_and_rate_flags(
    frame: pd.DataFrame,
    config: QcConfig,
    spike_rows: np.ndarray,
    rate_rows: np.ndarray,
    series_id: np.ndarray,
    position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    spike = np.full(len(frame), NOT_EVALUATED, np.int16)
    rate = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    times = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    parameters = frame["parameter"].to_numpy(dtype=object)
    for parameter in pd.unique(parameters[spike_rows | rate_rows]):
        thresholds = config.parameters.get(parameter)
        if thresholds is None:
            continue
        if thresholds.spike is not None:
            rows = np.flatnonzero(spike_rows & (parameters == parameter))
            if len(rows):
                # One NaN between consecutive series: ioos_qc then cannot form the (n-1, n+1) mean across
                # the seam and returns "not evaluated" there, as at the ends of a single series.
                seam = np.r_[0, (series_id[rows][1:] != series_id[rows][:-1]).cumsum()]
                padded = np.full(len(rows) + seam[-1], np.nan)
                padded[np.arange(len(rows)) + seam] = values[rows]
                result = np.asarray(
                    qartod.spike_test(
                        padded,
                        thresholds.spike.suspect,
                        thresholds.spike.fail,
                        method=thresholds.spike.method,
                    )
                )
                spike[rows] = result[np.arange(len(rows)) + seam]
        if thresholds.rate_of_change_per_hour is not None:
            rows = np.flatnonzero(rate_rows & (parameters == parameter))
            if len(rows):
                result = np.asarray(
                    qartod.rate_of_change_test(
                        values[rows], times[rows], thresholds.rate_of_change_per_hour / 3600.0
                    )
                )
                first = np.r_[True, series_id[rows][1:] != series_id[rows][:-1]]
                result = np.where(first, NOT_EVALUATED, result)  # no predecessor in its own series
                rate[rows] = result
    return spike, rate


def _median_interval_seconds(times: np.ndarray, series_id: np.ndarray) -> np.ndarray:
    """Per row: the median sampling interval (s) of its series (0 for a one-reading series)."""
    seconds = times.astype("datetime64[s]").astype(np.int64)
    frame = pd.DataFrame({"series": series_id, "t": seconds})
    step = frame.groupby("series")["t"].diff()
    median = step.groupby(frame["series"]).transform("median").fillna(0.0)
    return median.to_numpy(dtype=float)


def flat_line_flags(
    frame: pd.DataFrame, config: QcConfig, eligible: np.ndarray, series_id: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """ioos_qc flat_line_test, once per (parameter, sampling interval), suspect and fail windows apart."""
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    if not eligible.any():
        return flags
    values = frame["value"].to_numpy(dtype=float)
    times = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    parameters = frame["parameter"].to_numpy(dtype=object)
    interval = np.zeros(len(frame))
    interval[eligible] = _median_interval_seconds(times[eligible], series_id[eligible])
    groups = pd.DataFrame(
        {"parameter": parameters[eligible], "interval": interval[eligible]}
    ).drop_duplicates()
    for parameter, step in groups.itertuples(index=False):
        thresholds = config.parameters.get(parameter)
        if thresholds is None or thresholds.flat_line is None or step <= 0:
            continue
        rows = np.flatnonzero(eligible & (parameters == parameter) & (interval == step))
        flat = thresholds.flat_line
        # ioos_qc only uses the times for their median step, so a synthetic regular clock is exact here.
        clock = np.datetime64("2000-01-01") + (np.arange(len(rows)) * step).astype("timedelta64[s]")
        result = np.full(len(rows), PASS, np.int16)
        for hours, flag in ((flat.suspect_hours, SUSPECT), (flat.fail_hours, FAIL)):
            window = int(hours * 3600 / step)  # observations, as ioos_qc counts them
            hit = (
                np.asarray(
                    qartod.flat_line_test(values[rows], clock, hours * 3600, hours * 3600, flat.tolerance)
                )
                != PASS
            )
            hit &= position[rows] >= window  # a full window of this series' own history
            result[hit] = flag
        flags[rows] = result
    return flags


def gap_flags(
    frame: pd.DataFrame,
    config: QcConfig,
    eligible: np.ndarray,
    series_id: np.ndarray,
    context_start: pd.Timestamp,
) -> np.ndarray:
    """ioos_qc time_gap_test per source rule; the flagged reading is the first one after the silence."""
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    times = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    sources = frame["source"].to_numpy(dtype=object)
    context = np.datetime64(context_start.tz_convert("UTC").tz_localize(None).to_datetime64(), "ns")
    for source, rule in config.gap.items():
        rows = np.flatnonzero(eligible & (sources == source))
        if not len(rows):
            continue
        if len(rows) == 1:
            result = np.array([PASS], np.int16)
        else:
            result = np.asarray(qartod.time_gap_test(times[rows], fail_span=rule.hours)).astype(np.int16)
        first = np.r_[True, series_id[rows][1:] != series_id[rows][:-1]]
        silence_hours = (times[rows] - context).astype("timedelta64[s]").astype(float) / 3600.0
        result = np.where(first, np.where(silence_hours > rule.hours, FAIL, PASS), result)
        flags[rows] = np.where(result == FAIL, rule.flag, result)
    return flags


def syntax_flags(
    frame: pd.DataFrame, config: QcConfig, eligible: np.ndarray, now: pd.Timestamp
) -> np.ndarray:
    """The reading as parsed is usable: a finite number, not stamped in the future, enough satellite pixels.

    (ioos_qc's syntax_test checks the character length of raw messages; the bridge and the source parsers
    have already parsed those, so this is the same test one step later, on typed values.)
    """
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    future = (frame["ts"] > now + pd.Timedelta(minutes=config.max_future_minutes)).to_numpy()
    bad = ~np.isfinite(values) | future
    result = np.where(bad, FAIL, PASS).astype(np.int16)
    if "pixel_count" in frame.columns:
        pixels = pd.to_numeric(frame["pixel_count"], errors="coerce").to_numpy(dtype=float)
        thin = ~np.isnan(pixels) & (pixels < config.satellite_min_pixel_count)
        result = np.where(thin & ~bad, SUSPECT, result)
    flags[eligible] = result[eligible]
    return flags


def score_readings(
    frame: pd.DataFrame,
    config: QcConfig,
    *,
    climatology: pd.DataFrame | None = None,
    context_start: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Run every configured QARTOD test on canonical readings; return them sorted, with flag columns.

    `frame`: station_id, parameter, ts (tz-aware), source, value (float; NaN = missing), censored, unit
    [, pixel_count]. Include the context before/after the window to be written (lookback/lookahead): the
    time-series tests need neighbours. `context_start` is the start of that context (default: the first
    reading). Adds qc_gap … qc_flat_line, qc_flag (worst), quality (label) and qc_version.
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    frame = frame.sort_values([*SERIES_KEY, "ts"], kind="stable").reset_index(drop=True)
    if frame.empty:
        out = frame.copy()
        for column in (*QC_COLUMNS, "qc_flag"):
            out[column] = pd.Series([], dtype="int16")
        out["quality"] = pd.Series([], dtype="str")
        out["qc_version"] = pd.Series([], dtype="str")
        return out
    context_start = context_start if context_start is not None else frame["ts"].min()

    values = frame["value"].to_numpy(dtype=float)
    censored = (
        frame["censored"].notna().to_numpy() if "censored" in frame.columns else np.zeros(len(frame), bool)
    )
    missing = np.isnan(values) & ~censored
    # A censored value without its bound ("BDL", limit not published) is present but cannot be range-tested.
    numeric = ~np.isnan(values)
    applies = {test: _source_has(frame, config, test) for test in TESTS}
    series_rows = numeric & np.isfinite(values)

    flags: dict[str, np.ndarray] = {}
    flags["syntax"] = syntax_flags(frame, config, applies["syntax"] & ~missing & numeric, now)
    flags["gross_range"] = gross_range_flags(frame, config, applies["gross_range"] & series_rows)
    flags["climatology"] = climatology_flags(frame, climatology, applies["climatology"] & series_rows)

    # Time-series tests see only the readings that have a finite value, in their own series order.
    ts_rows = series_rows
    sub = frame.loc[ts_rows]
    sub_series, sub_position = _series_layout(sub)
    sub_applies = {test: applies[test][ts_rows] for test in ("spike", "rate_of_change", "flat_line", "gap")}
    spike, rate = _spike_and_rate_flags(
        sub, config, sub_applies["spike"], sub_applies["rate_of_change"], sub_series, sub_position
    )
    flat = flat_line_flags(sub, config, sub_applies["flat_line"], sub_series, sub_position)
    gap = gap_flags(sub, config, sub_applies["gap"], sub_series, context_start)
    for name, sub_flags in (("spike", spike), ("rate_of_change", rate), ("flat_line", flat), ("gap", gap)):
        full = np.full(len(frame), NOT_EVALUATED, np.int16)
        full[ts_rows] = sub_flags
        flags[name] = full

    for name in TESTS:
        flags[name] = np.where(missing, MISSING, flags[name]).astype(np.int16)
    out = frame.copy()
    for name in TESTS:
        out[f"qc_{name}"] = flags[name]
    out["qc_flag"] = aggregate_flags([flags[name] for name in TESTS])
    out["quality"] = pd.Series(out["qc_flag"].map(QUALITY_LABELS), dtype="str")
    out["qc_version"] = config.version
    return out
