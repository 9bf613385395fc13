"""QARTOD quality scoring of canonical readings: pure functions over DataFrames, built on ioos_qc 3.0.

Flags follow QARTOD/IOOS: 1 pass, 2 not evaluated, 3 suspect, 4 fail, 9 missing; the aggregate qc_flag is
the worst flag with precedence 4 > 3 > 1 > 2 > 9 (ioos_qc.qartod.qartod_compare; docs/water_quality.md §3).

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
* drift (not a QARTOD test; ioos_qc has none) — quality/drift.py: a sustained residual from a model of
  the station (DO from the co-measured temperature's saturation, or the series' own recent readings);
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
from purehealth_pipelines.quality.drift import drift_flags
from purehealth_pipelines.vocabulary import TIMEZONE, QartodFlag

PASS, NOT_EVALUATED, SUSPECT, FAIL, MISSING = (int(flag) for flag in QartodFlag)  # plain ints for numpy
QC_COLUMNS: tuple[str, ...] = tuple(f"qc_{test}" for test in TESTS)
QUALITY_LABELS = {int(flag): flag.label for flag in QartodFlag}
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


def _segments(frame: pd.DataFrame, config: QcConfig, series_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment id, position within segment): a series split wherever it fell silent for longer than its
    source's gap threshold, so a gap resets the time-series tests (no rate from before an outage)."""
    seconds = _epoch_seconds(frame)
    sources = frame["source"].to_numpy(dtype=object)
    limit = np.full(len(frame), np.inf)
    for source, rule in config.gap.items():
        limit[sources == source] = rule.hours * 3600.0
    new = (
        np.r_[True, (series_id[1:] != series_id[:-1]) | (np.diff(seconds) > limit[1:])]
        if len(frame)
        else (np.zeros(0, bool))
    )
    segment = np.cumsum(new) - 1
    start_index = np.maximum.accumulate(np.where(new, np.arange(len(frame)), 0))
    return segment, np.arange(len(frame)) - start_index


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
    months = frame["ts"].dt.tz_convert(TIMEZONE).dt.month.to_numpy()
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


def _spike_flags(
    frame: pd.DataFrame, config: QcConfig, spike_rows: np.ndarray, series_id: np.ndarray
) -> np.ndarray:
    """ioos_qc spike_test once per parameter on the series laid end to end (a NaN at each seam)."""
    spike = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    parameters = frame["parameter"].to_numpy(dtype=object)
    for parameter in pd.unique(parameters[spike_rows]):
        thresholds = config.parameters.get(parameter)
        if thresholds is None or thresholds.spike is None:
            continue
        rows = np.flatnonzero(spike_rows & (parameters == parameter))
        # One NaN between consecutive series: ioos_qc then cannot form the (n-1, n+1) mean across
        # the seam and returns "not evaluated" there, as at the ends of a single series.
        seam = np.r_[0, (series_id[rows][1:] != series_id[rows][:-1]).cumsum()]
        padded = np.full(len(rows) + seam[-1], np.nan)
        padded[np.arange(len(rows)) + seam] = values[rows]
        result = np.asarray(
            qartod.spike_test(
                padded, thresholds.spike.suspect, thresholds.spike.fail, method=thresholds.spike.method
            )
        )
        spike[rows] = result[np.arange(len(rows)) + seam]
    return spike


def _epoch_seconds(frame: pd.DataFrame) -> np.ndarray:
    times = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return times.astype("datetime64[ns]").astype(np.int64) / 1e9


def robust_noise(values: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
    """Per reading: the series' own noise σ just before it, 1.4826·median|Δx|/√2 over `window` steps.

    The median of absolute first differences ignores the few large steps a fault or an event makes, so it
    measures the sensor's noise plus its ordinary sample-to-sample change (the QARTOD manuals suggest
    thresholds of N standard deviations of the series itself).
    """
    step = pd.Series(values).groupby(segment).diff().abs()
    median = (
        step.groupby(segment).rolling(max(window, 3), min_periods=3).median().reset_index(level=0, drop=True)
    )
    return (1.4826 * median.sort_index().to_numpy(dtype=float)) / np.sqrt(2.0)


def reference_index(seconds: np.ndarray, segment: np.ndarray, usable: np.ndarray, span: float) -> np.ndarray:
    """Per reading: index of the last `usable` reading of its segment at least `span` s earlier (-1: none)."""
    candidates = np.flatnonzero(usable)
    if not len(candidates):
        return np.full(len(seconds), -1)
    # Order by (segment, time) in one float key; segments are separated by more than any time difference.
    origin = float(seconds.min()) if len(seconds) else 0.0
    scale = float(seconds.max() - origin) + 2 * span + 1.0
    key = segment * scale + (seconds - origin)
    position = np.searchsorted(key[candidates], key - span, side="right") - 1
    found = np.where(position >= 0, candidates[np.maximum(position, 0)], -1)
    valid = (found >= 0) & (segment[np.maximum(found, 0)] == segment)
    return np.where(valid, found, -1)


def rate_of_change_flags(
    frame: pd.DataFrame,
    config: QcConfig,
    rate_rows: np.ndarray,
    segment: np.ndarray,
    spike: np.ndarray,
) -> np.ndarray:
    """QARTOD rate of change over at least `min_span_minutes`, from the last reading the spike test passed.

    ioos_qc.rate_of_change_test compares each reading with its immediate predecessor; applied to a
    sensor publishing every few seconds, noise alone exceeds an hourly limit (0.09 °C in 6 s = 54 °C/h).
    Here each reading is paired with its reference (see RateOfChange) and ioos_qc judges the pairs, laid
    out as two-point series. The first reading of a segment (after a gap) has no reference: not evaluated.
    """
    rate = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    seconds = _epoch_seconds(frame)
    parameters = frame["parameter"].to_numpy(dtype=object)
    for parameter in pd.unique(parameters[rate_rows]):
        thresholds = config.parameters.get(parameter)
        if thresholds is None or thresholds.rate_of_change is None:
            continue
        roc = thresholds.rate_of_change
        rows = np.flatnonzero(rate_rows & (parameters == parameter))
        seg, sec, val = segment[rows], seconds[rows], values[rows]
        clean = ~np.isin(spike[rows], (SUSPECT, FAIL))
        ref = reference_index(sec, seg, clean, roc.min_span_minutes * 60.0)
        has = ref >= 0
        result = np.full(len(rows), NOT_EVALUATED, np.int16)
        if has.any():
            pair_values = np.column_stack([val[ref[has]], val[has]]).reshape(-1)
            pair_times = np.column_stack([sec[ref[has]], sec[has]]).reshape(-1)
            pair_times = (pair_times * 1e9).astype("int64").astype("datetime64[ns]")
            judged = np.asarray(
                qartod.rate_of_change_test(pair_values, pair_times, roc.suspect_per_hour / 3600.0)
            ).reshape(-1, 2)[:, 1]
            if roc.noise_factor > 0:
                step = np.median(np.diff(sec)) if len(sec) > 1 else 900.0
                window = int(max(24 * 3600 / max(step, 1.0), 3))
                sigma = robust_noise(val, seg, window)[has]
                change = np.abs(val[has] - val[ref[has]])
                judged = np.where(
                    (judged == SUSPECT) & (change <= roc.noise_factor * np.sqrt(2.0) * sigma), PASS, judged
                )
            result[has] = judged
        rate[rows] = result
    return rate


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
    """ioos_qc flat_line_test, once per (parameter, sampling interval), suspect and fail windows apart.

    The tolerance is at least the sensor's reporting resolution (a value flickering by one step is as
    stuck as one repeated exactly), so the windows are long enough that a stable river (pH 8.61 all
    night) is not a stuck sensor; readings inside the parameter's `exempt` span are never flagged.
    `series_id` / `position` are per segment: a gap restarts the window.
    """
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
        # Values are printed at the resolution: one step apart must count as "within tolerance" even
        # when the float difference comes out a hair above it (8.62 - 8.61 = 0.0100000000000016).
        tolerance = flat.tolerance * (1 + 1e-6) + 1e-12
        # ioos_qc only uses the times for their median step, so a synthetic regular clock is exact here.
        clock = np.datetime64("2000-01-01") + (np.arange(len(rows)) * step).astype("timedelta64[s]")
        result = np.full(len(rows), PASS, np.int16)
        for hours, flag in ((flat.suspect_hours, SUSPECT), (flat.fail_hours, FAIL)):
            window = int(hours * 3600 / step)  # observations, as ioos_qc counts them
            hit = (
                np.asarray(qartod.flat_line_test(values[rows], clock, hours * 3600, hours * 3600, tolerance))
                != PASS
            )
            hit &= position[rows] >= window  # a full window of this segment's own history
            result[hit] = flag
        if flat.exempt is not None:
            low, high = flat.exempt
            result[(values[rows] >= low) & (values[rows] <= high)] = PASS
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


def impossible_value(frame: pd.DataFrame, config: QcConfig) -> np.ndarray:
    """A logger code (-9999, 7999) or a value the parameter's sensor never reports for real (pH 0.00).

    Such a value is not a measurement at all, so it fails at once instead of waiting for gross range
    (7999 µS/cm is inside an EC span) or for a flat line to last its window.
    """
    values = frame["value"].to_numpy(dtype=float)
    hit = (
        np.isin(values, np.asarray(config.logger_codes, dtype=float))
        if config.logger_codes
        else (np.zeros(len(frame), bool))
    )
    parameters = frame["parameter"].to_numpy(dtype=object)
    for parameter, thresholds in config.parameters.items():
        if thresholds.impossible_values:
            hit |= (parameters == parameter) & np.isin(values, np.asarray(thresholds.impossible_values))
    return hit


def syntax_flags(
    frame: pd.DataFrame, config: QcConfig, eligible: np.ndarray, now: pd.Timestamp
) -> np.ndarray:
    """The reading as parsed is usable: a finite number, not a logger code or an impossible exact value,
    not stamped in the future, enough satellite pixels.

    (ioos_qc's syntax_test checks the character length of raw messages; the bridge and the source parsers
    have already parsed those, so this is the same test one step later, on typed values.)
    """
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    values = frame["value"].to_numpy(dtype=float)
    future = (frame["ts"] > now + pd.Timedelta(minutes=config.max_future_minutes)).to_numpy()
    bad = ~np.isfinite(values) | future | impossible_value(frame, config)
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
    drift_reference: pd.DataFrame | None = None,
    calibrations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Run every configured QARTOD test on canonical readings; return them sorted, with flag columns.

    `frame`: station_id, parameter, ts (tz-aware), source, value (float; NaN = missing), censored, unit
    [, pixel_count]. Include the context before/after the window to be written (lookback/lookahead): the
    time-series tests need neighbours. `context_start` is the start of that context (default: the first
    reading). Adds qc_gap … qc_flat_line, qc_drift, qc_flag (worst), quality (label) and qc_version.
    `drift_reference` (drift.learn_drift_reference) enables the drift test (without it: not evaluated);
    `calibrations` (station_id, parameter, ts) reset its window.
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

    # Time-series tests see only readings that are measurements (finite, not failed by syntax or gross
    # range: a -9999 is not a neighbour), in their own series order. A silence longer than the source's
    # gap threshold starts a new segment: spike, rate of change and flat line do not look across it.
    ts_rows = series_rows & (flags["syntax"] != FAIL) & (flags["gross_range"] != FAIL)
    sub = frame.loc[ts_rows]
    sub_series, _ = _series_layout(sub)
    segment, seg_position = _segments(sub, config, sub_series)
    sub_applies = {test: applies[test][ts_rows] for test in ("spike", "rate_of_change", "flat_line", "gap")}
    spike = _spike_flags(sub, config, sub_applies["spike"], segment)
    rate = rate_of_change_flags(sub, config, sub_applies["rate_of_change"], segment, spike)
    flat = flat_line_flags(sub, config, sub_applies["flat_line"], segment, seg_position)
    gap = gap_flags(sub, config, sub_applies["gap"], sub_series, context_start)
    for name, sub_flags in (("spike", spike), ("rate_of_change", rate), ("flat_line", flat), ("gap", gap)):
        full = np.full(len(frame), NOT_EVALUATED, np.int16)
        full[ts_rows] = sub_flags
        flags[name] = full
    # The drift models read the same measurements (and, for saturation, the co-measured temperature).
    flags["drift"] = drift_flags(
        frame, config, drift_reference, applies["drift"] & ts_rows, ts_rows, calibrations
    )

    for name in TESTS:
        flags[name] = np.where(missing, MISSING, flags[name]).astype(np.int16)
    out = frame.copy()
    for name in TESTS:
        out[f"qc_{name}"] = flags[name]
    out["qc_flag"] = aggregate_flags([flags[name] for name in TESTS])
    out["quality"] = pd.Series(out["qc_flag"].map(QUALITY_LABELS), dtype="str")
    out["qc_version"] = config.version
    return out
