"""Model-based QC test for what the rule tests cannot see: sensor drift and fouling.

A drifting dissolved-oxygen sensor (+2 mg/l for weeks) or a fouled turbidity sensor reads values that are
each plausible, change slowly and are never flat, so gross range, spike, rate of change and flat line pass
them, and a climatology only catches the part that leaves the month's span. What gives them away is a
*model*: something that predicts the reading without trusting its value.

* ``saturation`` (dissolved oxygen): the co-measured water temperature fixes how much oxygen water holds
  at saturation, Cs(T) (the solubility curve of docs/water_quality.md §2). A river sits at a
  station-specific fraction of it — below 1 at altitude (lower air pressure) and where respiration wins,
  around it elsewhere; photosynthesis and respiration move it through the day but its daily median is
  stable. The station's own ratio is learned (median of DO / Cs(T) over its history, so no barometric
  pressure or altitude is needed) and the residual is DO − ratio · Cs(T), in mg/l. A sensor whose DO
  stays far above what the temperature allows, day and night for a day, has drifted.
* ``covariate`` (cross-parameter): log x is predicted from the log of a co-measured parameter with the
  station's own slope (Theil–Sen over hourly bins, so a minority of faulty weeks cannot tilt it; carried in
  the reference's ``ratio``; the intercept is the reference's center). Meant for turbidity against
  conductivity: in a snowmelt or storm the flow that carries sediment also dilutes the conductivity, so a
  turbidity that climbs for days at an unchanged conductivity is a fouling film, not the river. Measured on
  the LRO data it does not separate fouling from a clean sensor's storms well enough to be enabled (see
  qartod_thresholds.yaml and the README); it is shipped so a station known to foul can opt in.
* ``history`` (the station's own recent readings): each reading is predicted by the median of the readings
  just before it; the residual is how far it lands from that prediction. A fouled or iced optical sensor
  turns erratic (readings jump between the film and the water) while a river event rises and falls
  smoothly.

Residuals are reduced to bins (DriftSettings.bin_minutes medians) and summarised by the median over a
trailing window (window_hours): a single event or a spike does not move it, a sensor fault that persists
does. The station's reference — center and robust scale of that window statistic over its history — is
learned by ``learn_drift_reference``; a window statistic beyond max(k · scale, floor) from the center on
the configured side is suspect (3; a model is evidence, not proof, so never fail). The floor is the
smallest departure a technician would correct, so a very steady station does not get a threshold below
what anyone would call wrong.

Calibration times (optional: ``calibrations`` with station_id, parameter, ts) reset the window: drift
accumulates from one calibration to the next, and a window must not mix readings from before a
calibration (drifted) with readings after it (corrected).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purehealth_pipelines.quality.config import Drift, QcConfig
from purehealth_pipelines.vocabulary import QartodFlag

PASS, NOT_EVALUATED, SUSPECT = int(QartodFlag.PASS), int(QartodFlag.NOT_EVALUATED), int(QartodFlag.SUSPECT)
REFERENCE_COLUMNS: tuple[str, ...] = (
    "station_id",
    "parameter",
    "model",
    "ratio",
    "center",
    "scale",
    "threshold",
    "n_windows",
    "history_start",
    "history_end",
)
# Previous readings whose median predicts the next one (the "history" model).
HISTORY_PREDICTORS = 4


def oxygen_saturation_mg_l(temp_c: np.ndarray) -> np.ndarray:
    """Dissolved oxygen at saturation (mg/l, fresh water, sea-level pressure) at temperature T (°C).

    Cs = 14.59 − 0.3955 T + 0.0072 T² − 0.0000619 T³ (docs/water_quality.md §2, the same curve the WQI's
    `temperature` DO-saturation method uses). Pressure and salinity are left out on purpose: the station's
    learned ratio absorbs them.
    """
    t = np.asarray(temp_c, dtype=float)
    return 14.59 - 0.3955 * t + 0.0072 * t**2 - 0.0000619 * t**3


def robust_center_scale(statistic: np.ndarray, k: float) -> tuple[float, float]:
    """(median, 1.4826 · MAD) of `statistic`, re-estimated once without the values beyond k · scale.

    A station's history holds its own faults (the weeks a sensor drifted before anyone calibrated it);
    with more than a few percent of such windows the MAD widens and would hide the next drift. One
    re-estimate without the clear outliers is the usual remedy (a one-step trimmed estimator).
    """
    values = statistic[np.isfinite(statistic)]
    if not len(values):
        return np.nan, np.nan
    center = float(np.median(values))
    scale = float(1.4826 * np.median(np.abs(values - center)))
    if scale > 0:
        kept = values[np.abs(values - center) <= k * scale]
        if len(kept) >= len(values) // 2:
            center = float(np.median(kept))
            scale = float(1.4826 * np.median(np.abs(kept - center)))
    return center, scale


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return naive.astype(np.int64) / 1e9


def _covariate_values(frame: pd.DataFrame, usable: np.ndarray, parameter: str, covariate: str) -> np.ndarray:
    """Per row of `frame`: the usable `covariate` reading of the same station, source and time (NaN: none)."""
    target = frame["parameter"].to_numpy(dtype=object) == parameter
    key = ["station_id", "source", "ts"]
    cov_rows = frame.loc[usable & (frame["parameter"].to_numpy(dtype=object) == covariate), [*key, "value"]]
    cov_rows = cov_rows.drop_duplicates(subset=key)
    out = np.full(len(frame), np.nan)
    if cov_rows.empty or not target.any():
        return out
    joined = frame.loc[target, key].merge(cov_rows, on=key, how="left", validate="many_to_one")
    out[target] = joined["value"].to_numpy(dtype=float)
    return out


def _within(frame: pd.DataFrame, usable: np.ndarray, parameter: str, spec: Drift) -> np.ndarray:
    """Readings of `parameter` whose co-measured `spec.covariate` is inside `spec.within` (all False
    without a span)."""
    if spec.within is None:
        return np.zeros(len(frame), bool)
    covariate = _covariate_values(frame, usable, parameter, spec.covariate or "")
    with np.errstate(invalid="ignore"):
        return (covariate >= spec.within[0]) & (covariate <= spec.within[1])


def _baseline_residual(values: np.ndarray, ts: pd.Series, series: np.ndarray, spec: Drift) -> np.ndarray:
    """f(x) − the median of f over its series' readings in the `baseline_days` before it (f = log if
    spec.log); NaN without a reading in that span. The reading itself is not part of its baseline.

    One grouped time-window rolling call (groups in ascending series id, rows in their original order:
    the stable argsort of `series` puts the result back), not a Python loop per series: a daily
    partition holds hundreds of EC series."""
    transformed = np.log(np.clip(values, 1e-3, None)) if spec.log else values
    frame = pd.DataFrame({"series": series, "ts": ts.to_numpy(), "x": transformed})
    window = pd.Timedelta(days=float(spec.baseline_days or 0))
    rolled = (
        frame.groupby("series", sort=True)
        .rolling(window, on="ts", closed="left", min_periods=1)["x"]
        .median()
    )
    baseline = np.full(len(values), np.nan)
    baseline[np.argsort(series, kind="stable")] = rolled.to_numpy(dtype=float)
    return transformed - baseline


def _history_residual(values: np.ndarray, series: np.ndarray, spec: Drift) -> np.ndarray:
    """|f(x) − median of the HISTORY_PREDICTORS previous readings of its series| (f = log if spec.log)."""
    transformed = np.log(np.clip(values, 1e-3, None)) if spec.log else values
    frame = pd.DataFrame({"series": series, "x": transformed})
    previous = frame.groupby("series")["x"].shift(1)
    prediction = (
        previous.groupby(frame["series"])
        .rolling(HISTORY_PREDICTORS, min_periods=2)
        .median()
        .reset_index(level=0, drop=True)
        .sort_index()
    )
    return np.abs(transformed - prediction.to_numpy(dtype=float))


def _log_pair(values: np.ndarray, covariate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log value, log covariate), NaN where either is not positive (log of a clipped 0 would be a fake
    extreme: a turbidity of 0.00 is a sensor at its floor, not a thousandfold drop)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
        other = np.where(covariate > 0, np.log(np.where(covariate > 0, covariate, 1.0)), np.nan)
    return own, other


def theil_sen_slope(x: np.ndarray, y: np.ndarray, max_points: int = 1500) -> float:
    """Median of pairwise slopes (Theil–Sen): a regression slope a minority of faulty points cannot move.

    Above `max_points` points an evenly spaced subsample is used (pairs grow as n²). NaN with fewer than
    three distinct x values.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) > max_points:
        pick = np.linspace(0, len(x) - 1, max_points).round().astype(int)
        x, y = x[pick], y[pick]
    if len(np.unique(x)) < 3:
        return np.nan
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    return float(np.median((y[j] - y[i])[keep] / dx[keep]))


def covariate_slope(
    frame: pd.DataFrame, usable: np.ndarray, parameter: str, spec: Drift, bin_minutes: float
) -> dict[str, float]:
    """Per station: the Theil–Sen slope of log(parameter) on log(covariate) over hourly-bin medians.

    The "covariate" model's only fitted coefficient (its intercept is the reference's center). Bins, not
    readings, so a 5-s live sensor and a 15-min logger weigh a day alike.
    """
    covariate = _covariate_values(frame, usable, parameter, spec.covariate or "")
    own, other = _log_pair(frame["value"].to_numpy(dtype=float), covariate)
    rows = usable & (frame["parameter"].to_numpy(dtype=object) == parameter) & np.isfinite(own + other)
    rows &= ~exempt_readings(frame, usable, parameter, spec)
    if not rows.any():
        return {}
    bins = np.floor(_epoch_seconds(frame["ts"]) / (bin_minutes * 60.0)).astype(np.int64)
    table = pd.DataFrame(
        {
            "station_id": frame["station_id"].astype(str).to_numpy()[rows],
            "bin": bins[rows],
            "y": own[rows],
            "x": other[rows],
        }
    )
    per_bin = table.groupby(["station_id", "bin"], sort=True)[["x", "y"]].median()
    slopes = {}
    for station, group in per_bin.groupby(level="station_id"):
        slope = theil_sen_slope(group["x"].to_numpy(dtype=float), group["y"].to_numpy(dtype=float))
        if np.isfinite(slope):
            slopes[station] = slope
    return slopes


def reading_residuals(
    frame: pd.DataFrame,
    config: QcConfig,
    usable: np.ndarray,
    ratios: dict[tuple[str, str], float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(residual per reading, saturation ratio per reading) for every parameter with a drift model.

    `frame` is sorted by station_id, parameter, source, ts. The residual is NaN where the model cannot
    predict (no usable covariate, no learned ratio, not a usable reading). The ratio column (value / Cs(T),
    saturation model only) is what `learn_drift_reference` learns the station's ratio from.
    """
    residual = np.full(len(frame), np.nan)
    ratio_values = np.full(len(frame), np.nan)
    parameters = frame["parameter"].to_numpy(dtype=object)
    stations = frame["station_id"].to_numpy(dtype=object)
    values = frame["value"].to_numpy(dtype=float)
    for parameter, thresholds in config.parameters.items():
        spec = thresholds.drift
        rows = usable & (parameters == parameter)
        if spec is None or not rows.any():
            continue
        if spec.model == "saturation":
            temperature = _covariate_values(frame, usable, parameter, spec.covariate or "")
            saturation = oxygen_saturation_mg_l(temperature)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio_values[rows] = values[rows] / saturation[rows]
            if ratios:
                learned = np.array([ratios.get((s, parameter), np.nan) for s in stations[rows]])
                residual[rows] = values[rows] - learned * saturation[rows]
        elif spec.model == "covariate":
            covariate = _covariate_values(frame, usable, parameter, spec.covariate or "")
            own, other = _log_pair(values, covariate)
            # The slope is learned by covariate_slope() (learn_drift_reference) and travels in the
            # reference's `ratio`; the intercept is the reference's center.
            if ratios:
                slope = np.array([ratios.get((s, parameter), np.nan) for s in stations[rows]])
                residual[rows] = own[rows] - slope * other[rows]
        elif spec.model == "baseline":
            idx = np.flatnonzero(rows)
            sub = frame.iloc[idx]
            series = sub.groupby(["station_id", "source"], sort=False).ngroup().to_numpy()
            if spec.within is not None:
                # Only series that were ever inside the span are judged: a river that never freezes
                # costs nothing (the rolling median is the expensive part of a daily partition).
                inside = _within(frame, usable, parameter, spec)[idx]
                keep = np.isin(series, np.unique(series[inside]))
                idx, series, sub = idx[keep], series[keep], sub[keep]
            if len(idx):
                residual[idx] = _baseline_residual(values[idx], sub["ts"], series, spec)
        elif spec.model == "history":
            idx = np.flatnonzero(rows)
            sub = frame.iloc[idx]
            series = sub.groupby(["station_id", "source"], sort=False).ngroup().to_numpy()
            residual[idx] = _history_residual(values[idx], series, spec)
        if spec.within is not None:
            residual[rows & ~_within(frame, usable, parameter, spec)] = np.nan
        exempt = exempt_readings(frame, usable, parameter, spec)
        residual[exempt] = np.nan
        ratio_values[exempt] = np.nan
    return residual, ratio_values


def exempt_readings(frame: pd.DataFrame, usable: np.ndarray, parameter: str, spec: Drift) -> np.ndarray:
    """Readings of `parameter` whose co-measured exempt covariate is inside the exempt span (ice)."""
    if spec.exempt is None or spec.exempt_covariate is None:
        return np.zeros(len(frame), bool)
    covariate = _covariate_values(frame, usable, parameter, spec.exempt_covariate)
    low, high = spec.exempt
    with np.errstate(invalid="ignore"):
        return (covariate >= low) & (covariate <= high)


def _calibration_epochs(
    frame: pd.DataFrame, rows: np.ndarray, seconds: np.ndarray, calibrations: pd.DataFrame | None
) -> np.ndarray:
    """Per row: how many calibrations of its station/parameter happened at or before it (0 without any)."""
    epochs = np.zeros(len(frame), np.int64)
    if calibrations is None or calibrations.empty:
        return epochs
    cal = calibrations.assign(
        station_id=calibrations["station_id"].astype(str),
        _t=_epoch_seconds(pd.to_datetime(calibrations["ts"], utc=True)),
    )
    stations = frame["station_id"].to_numpy(dtype=object)
    parameters = frame["parameter"].to_numpy(dtype=object)
    for (station, parameter), group in cal.groupby(["station_id", "parameter"]):
        mask = rows & (stations == station) & (parameters == parameter)
        if mask.any():
            times = np.sort(group["_t"].to_numpy(dtype=float))
            epochs[mask] = np.searchsorted(times, seconds[mask], side="right")
    return epochs


def window_statistic(
    frame: pd.DataFrame,
    residual: np.ndarray,
    rows: np.ndarray,
    config: QcConfig,
    calibrations: pd.DataFrame | None = None,
    how: str = "median",
) -> np.ndarray:
    """Per reading in `rows`: the median of its series' bin residuals over the trailing window (NaN where
    the window holds fewer than min_coverage of its bins). A row whose own residual is NaN still gets
    its bin's value.

    Bins are medians of the residuals in `bin_minutes` (the reading's own bin included); the window never
    reaches back past a calibration of the station/parameter. `how="max"`: the window's largest bin
    (any bin at all; for indicators such as "the water was at its freezing point").
    """
    settings = config.drift
    out = np.full(len(frame), np.nan)
    if not rows.any():
        return out
    bin_seconds = settings.bin_minutes * 60.0
    window = max(round(settings.window_hours * 3600.0 / bin_seconds), 1)
    min_bins = max(int(np.ceil(settings.min_coverage * window)), 1)
    seconds = _epoch_seconds(frame["ts"])
    bins = np.floor(seconds / bin_seconds).astype(np.int64)
    epochs = _calibration_epochs(frame, rows, seconds, calibrations)
    idx = np.flatnonzero(rows)
    table = pd.DataFrame(
        {
            "station_id": frame["station_id"].to_numpy(dtype=object)[idx],
            "parameter": frame["parameter"].to_numpy(dtype=object)[idx],
            "source": frame["source"].to_numpy(dtype=object)[idx],
            "epoch": epochs[idx],
            "bin": bins[idx],
            "residual": residual[idx],
            "row": idx,
        }
    )
    keys = ["station_id", "parameter", "source", "epoch"]
    per_bin = table.dropna(subset=["residual"]).groupby([*keys, "bin"], sort=True)["residual"].median()
    statistic = {}
    for key, series in per_bin.groupby(level=keys, sort=False):
        spec = config.parameters[key[1]].drift if key[1] in config.parameters else None
        if spec is not None and spec.window_hours is not None:  # the model's own window
            window = max(round(spec.window_hours * 3600.0 / bin_seconds), 1)
            min_bins = max(int(np.ceil(settings.min_coverage * window)), 1)
        else:
            window = max(round(settings.window_hours * 3600.0 / bin_seconds), 1)
            min_bins = max(int(np.ceil(settings.min_coverage * window)), 1)
        positions = series.index.get_level_values("bin").to_numpy()
        first = positions.min()
        grid = np.full(positions.max() - first + 1, np.nan)
        grid[positions - first] = series.to_numpy()
        rolling = pd.Series(grid).rolling(window, min_periods=min_bins if how == "median" else 1)
        rolled = (rolling.median() if how == "median" else rolling.max()).to_numpy()
        statistic[key] = (first, rolled)
    for key, group in table.groupby(keys, sort=False):
        found = statistic.get(key)
        if found is None:
            continue
        first, rolled = found
        position = group["bin"].to_numpy() - first
        inside = (position >= 0) & (position < len(rolled))
        values = np.full(len(group), np.nan)
        values[inside] = rolled[position[inside]]
        out[group["row"].to_numpy()] = values
    return out


def learn_drift_reference(
    frame: pd.DataFrame,
    config: QcConfig,
    *,
    usable: np.ndarray | None = None,
    calibrations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The stations' drift references from their history: one row per station and modelled parameter.

    `frame`: readings (station_id, parameter, source, ts, value[, qc_flag]) of the modelled parameters and
    their covariates; readings failed or missing (qc_flag 4 / 9) and non-finite values are left out, or
    pass `usable`. Per station/parameter: the saturation ratio (median of DO / Cs(T)), then the window
    statistic over the whole history, its robust center and scale (robust_center_scale) and the threshold
    max(k · scale, floor). A station with less than `min_learning_days` of window statistics gets no row
    (the test then says "not evaluated").
    """
    settings = config.drift
    order = ["station_id", "parameter", "source", "ts"]
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    values = frame["value"].to_numpy(dtype=float)
    if usable is None:
        usable = np.isfinite(values)
        if "qc_flag" in frame.columns:
            usable &= ~frame["qc_flag"].isin([4, 9]).to_numpy()
    _, ratio_values = reading_residuals(frame, config, usable)
    stations = frame["station_id"].astype(str).to_numpy(dtype=object)
    parameters = frame["parameter"].to_numpy(dtype=object)
    ratios: dict[tuple[str, str], float] = {}
    for parameter, thresholds in config.parameters.items():
        if thresholds.drift is None or thresholds.drift.model != "saturation":
            continue
        rows = usable & (parameters == parameter) & np.isfinite(ratio_values)
        for station in pd.unique(stations[rows]):
            ratios[(station, parameter)] = float(np.median(ratio_values[rows & (stations == station)]))
    for parameter, thresholds in config.parameters.items():
        if thresholds.drift is None or thresholds.drift.model != "covariate":
            continue
        slopes = covariate_slope(frame, usable, parameter, thresholds.drift, settings.bin_minutes)
        ratios.update({(station, parameter): slope for station, slope in slopes.items()})
    residual, _ = reading_residuals(frame, config, usable, ratios)
    modelled = usable & np.isfinite(residual)
    statistic = window_statistic(frame, residual, modelled, config, calibrations)
    bin_seconds = settings.bin_minutes * 60.0
    bins = np.floor(_epoch_seconds(frame["ts"]) / bin_seconds).astype(np.int64)
    rows_out = []
    for (station, parameter), group in pd.DataFrame(
        {"station_id": stations, "parameter": parameters, "row": np.arange(len(frame))}
    )[modelled].groupby(["station_id", "parameter"], sort=True):
        spec = config.parameters[parameter].drift
        idx = group["row"].to_numpy()
        # one value per bin: the statistic is a per-bin quantity (several readings share a bin)
        per_bin = pd.Series(statistic[idx]).groupby(bins[idx]).first().dropna()
        if len(per_bin) * bin_seconds < settings.min_learning_days * 86400.0:
            continue
        center, scale = robust_center_scale(per_bin.to_numpy(dtype=float), settings.k)
        rows_out.append(
            {
                "station_id": station,
                "parameter": parameter,
                "model": spec.model,
                "ratio": ratios.get((station, parameter), np.nan),
                "center": center,
                "scale": scale,
                "threshold": max(settings.k * scale, spec.floor),
                "n_windows": len(per_bin),
                "history_start": frame["ts"].iloc[idx].min(),
                "history_end": frame["ts"].iloc[idx].max(),
            }
        )
    return pd.DataFrame(rows_out, columns=list(REFERENCE_COLUMNS))


def drift_flags(
    frame: pd.DataFrame,
    config: QcConfig,
    reference: pd.DataFrame | None,
    eligible: np.ndarray,
    usable: np.ndarray,
    calibrations: pd.DataFrame | None = None,
) -> np.ndarray:
    """Suspect (3) where the window statistic departs from the station's reference by more than its
    threshold on the configured side, pass (1) where it does not, not evaluated (2) where there is no
    model, no reference or too little of the window.

    `frame` sorted by station_id, parameter, source, ts; `eligible`: rows the test applies to; `usable`:
    readings that may feed a model (finite, not failed by syntax or gross range), covariates included.
    """
    flags = np.full(len(frame), NOT_EVALUATED, np.int16)
    if reference is None or reference.empty or not eligible.any():
        return flags
    ref = reference.assign(station_id=reference["station_id"].astype(str)).drop_duplicates(
        subset=["station_id", "parameter"], keep="last"
    )
    ratios = {
        (r.station_id, r.parameter): float(r.ratio)
        for r in ref.itertuples(index=False)
        if r.ratio is not None and np.isfinite(r.ratio)
    }
    residual, _ = reading_residuals(frame, config, usable, ratios)
    modelled = eligible & usable
    # Readings whose own residual is missing (no covariate at that instant) take their bin's window.
    statistic = window_statistic(frame, residual, modelled, config, calibrations)
    keys = frame[["station_id", "parameter"]].astype({"station_id": str})
    joined = keys.merge(ref, on=["station_id", "parameter"], how="left", validate="many_to_one")
    center = joined["center"].to_numpy(dtype=float)
    threshold = joined["threshold"].to_numpy(dtype=float)
    parameters = frame["parameter"].to_numpy(dtype=object)
    known = modelled & np.isfinite(statistic) & np.isfinite(center) & np.isfinite(threshold)
    departure = statistic - center
    outside = np.zeros(len(frame), bool)
    for parameter, thresholds in config.parameters.items():
        spec = thresholds.drift
        if spec is None:
            continue
        rows = known & (parameters == parameter)
        if spec.side in ("high", "both"):
            outside |= rows & (departure > threshold)
        if spec.side in ("low", "both"):
            outside |= rows & (departure < -threshold)
    flags[known] = np.where(outside[known], SUSPECT, PASS)
    for parameter, thresholds in config.parameters.items():
        spec = thresholds.drift
        rows = modelled & (parameters == parameter)
        if spec is None or spec.exempt is None or not rows.any():
            continue
        exempt = exempt_readings(frame, usable, parameter, spec)
        indicator = exempt.astype(float)
        in_window = window_statistic(frame, indicator, rows, config, calibrations, how="max")
        flags[rows & (in_window > 0)] = NOT_EVALUATED
    return flags
