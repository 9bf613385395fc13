"""Forecast features: lags and rolling statistics of the target, calendar, exogenous drivers as of the origin.

Pure functions (DataFrames in, DataFrames out; nothing about Dagster or SQL).

Time convention — the one thing that keeps the features honest:
- An hourly value labelled `ts` is the mean of the good readings in the hour *ending* at `ts`, i.e. in
  [ts - 1 h, ts). So at a forecast origin `t` the value labelled `t` is already complete and known, and the
  value labelled `t + h` is the target for horizon `h` (the mean over the hour ending at t + h).
- A feature row at origin `t` uses only hourly values labelled <= t and exogenous rows whose *availability*
  time (observation time + publication latency, `EXOGENOUS_LATENCY`) is <= t. IMD daily rainfall for a day
  is only complete when the day ends, so it becomes usable at the start of the next day, not at its `ts`.

Every series is put on a regular hourly grid first, so a lag of k hours is exactly k rows back; gaps stay
NaN (LightGBM handles missing values natively) rather than being silently shifted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from purehealth_pipelines.vocabulary import TIMEZONE

HORIZONS_H: tuple[int, ...] = (1, 6, 24)
# Parameters forecast from the live sensors (docs/contracts.md §5 codes).
TARGET_PARAMETERS: tuple[str, ...] = ("do_mg_l", "ph", "turbidity_ntu", "ec_us_cm")
BASE_LAGS_H: tuple[int, ...] = (1, 2, 3, 6, 12, 24, 48, 168)
ROLLING_WINDOWS_H: tuple[int, ...] = (6, 24, 168)
# How long the last observed value may be carried forward to be "the current value" at the origin.
MAX_CARRY_H = 24
DIURNAL_PERIOD_H = 24

# Publication latency of each exogenous driver: a row observed at ts may be used from ts + latency on.
# IMD gridded rainfall is a daily total for the IMD day (ts = start of day): complete only at the day's end.
# CWC telemetry is hourly and near-real-time. Satellite scenes reach us after processing: one day, to be safe.
EXOGENOUS_LATENCY: dict[str, pd.Timedelta] = {
    "rainfall_mm": pd.Timedelta(days=1),
    "water_level_m": pd.Timedelta(0),
    "discharge_m3_s": pd.Timedelta(0),
    "ndwi": pd.Timedelta(days=1),
    "ndti": pd.Timedelta(days=1),
    "ndci": pd.Timedelta(days=1),
    "chl_a_mg_m3": pd.Timedelta(days=1),
}
# How long an exogenous value stays relevant; older ones become NaN (a year-old satellite scene says nothing).
EXOGENOUS_MAX_AGE: dict[str, pd.Timedelta] = {
    "rainfall_mm": pd.Timedelta(days=2),
    "water_level_m": pd.Timedelta(days=2),
    "discharge_m3_s": pd.Timedelta(days=2),
    "ndwi": pd.Timedelta(days=30),
    "ndti": pd.Timedelta(days=30),
    "ndci": pd.Timedelta(days=30),
    "chl_a_mg_m3": pd.Timedelta(days=30),
}
RAIN_WINDOW_DAYS = 3

KEY_COLUMNS = ["station_id", "parameter", "ts"]


def lags_for(horizons: Iterable[int]) -> list[int]:
    """Base lags plus, per horizon h < 24, the lag 24 - h: the value at the target's hour yesterday
    (the seasonal-naive value), which carries the diurnal cycle straight to the model."""
    extra = {DIURNAL_PERIOD_H - h for h in horizons if DIURNAL_PERIOD_H - h > 0}
    return sorted(set(BASE_LAGS_H) | extra)


def seasonal_naive_lag(horizon_h: int) -> int:
    """Lag (hours before the origin) of the seasonal-naive forecast for `horizon_h`: same hour, last cycle."""
    cycles = -(-horizon_h // DIURNAL_PERIOD_H)  # ceil
    return cycles * DIURNAL_PERIOD_H - horizon_h


def daily_cycle_horizons(horizons: Iterable[int]) -> list[int]:
    """Horizons for which "yesterday at the target hour" is an earlier, different hour than now (h < 24)."""
    return sorted(h for h in horizons if DIURNAL_PERIOD_H - h > 0)


def feature_columns(horizons: Sequence[int] = HORIZONS_H, exogenous: bool = True) -> list[str]:
    """The model's feature names, in order (station id first, as a categorical)."""
    columns = ["station_id", "last_value", "age_h"]
    columns += [f"lag_{k}h" for k in lags_for(horizons)]
    for window in ROLLING_WINDOWS_H:
        columns += [f"roll_mean_{window}h", f"roll_std_{window}h"]
    columns += ["roll_min_24h", "roll_max_24h", "diff_1h", "diff_24h"]
    # The daily cycle for longer horizons (+6 h lost to same-hour-yesterday on real data): the
    # value 24 h before the target minus now, and how the river moved over the same hours yesterday.
    for h in daily_cycle_horizons(horizons):
        columns += [f"seasonal_minus_now_{h}h", f"yesterday_change_{h}h"]
    columns += ["hour_local", "doy_sin", "doy_cos", "month", "monsoon"]
    if exogenous:
        columns += [
            "rain_1d_mm",
            f"rain_{RAIN_WINDOW_DAYS}d_mm",
            "water_level_m",
            "discharge_m3_s",
            "ndwi",
            "ndti",
            "ndci",
            "chl_a_mg_m3",
            "satellite_age_d",
        ]
    return columns


def target_columns(horizons: Sequence[int] = HORIZONS_H) -> list[str]:
    return [f"target_{h}h" for h in horizons]


def _wide_hourly(hourly: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Long hourly means -> wide (hourly grid x (station, parameter)) on the regular grid [start, end]."""
    frame = hourly[["station_id", "parameter", "ts", "value"]].copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if (frame["ts"] != frame["ts"].dt.floor("h")).any():
        raise ValueError("hourly values must be labelled on whole hours (the end of their hour)")
    wide = frame.pivot_table(index="ts", columns=["station_id", "parameter"], values="value", aggfunc="mean")
    grid = pd.date_range(start, end, freq="h", tz="UTC", name="ts")
    return wide.reindex(grid).astype("float64")


def _hours_since_observed(wide: pd.DataFrame) -> np.ndarray:
    """Per cell, hours since the last non-NaN value at or before that row (NaN if none yet)."""
    values = wide.to_numpy()
    rows = np.arange(len(values), dtype="float64")[:, None]
    last_seen = np.where(~np.isnan(values), rows, np.nan)
    last_seen = pd.DataFrame(last_seen).ffill().to_numpy()
    return rows - last_seen


def _to_long(columns: dict[str, pd.DataFrame], index: pd.MultiIndex, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Stack same-shaped wide frames into one long frame (one row per time x series), column-wise."""
    n_times, n_series = len(times), len(index)
    out = pd.DataFrame(
        {
            "station_id": np.tile(index.get_level_values("station_id").to_numpy(dtype=object), n_times),
            "parameter": np.tile(index.get_level_values("parameter").to_numpy(dtype=object), n_times),
            "ts": np.repeat(times.to_numpy(), n_series),
        }
    )
    for name, wide in columns.items():
        out[name] = np.asarray(wide, dtype="float64").reshape(-1)
    return out


def calendar_features(ts: pd.Series) -> pd.DataFrame:
    """Hour of day (IST), day of year on the unit circle, month, and the southwest monsoon flag.

    Monsoon = June–September, IMD's southwest-monsoon season; it dilutes BOD, lifts DO and brings turbidity
    (docs/water_quality.md §4). Calendar features are known in advance, so they never leak."""
    local = pd.to_datetime(ts, utc=True).dt.tz_convert(TIMEZONE)
    doy = local.dt.dayofyear.to_numpy(dtype="float64")
    angle = 2 * np.pi * (doy - 1) / 365.25
    month = local.dt.month.to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            "hour_local": local.dt.hour.to_numpy(dtype="float64"),
            "doy_sin": np.sin(angle),
            "doy_cos": np.cos(angle),
            "month": month,
            "monsoon": ((month >= 6) & (month <= 9)).astype("float64"),
        },
        index=ts.index,
    )


def _asof_join(
    origins: pd.DataFrame, exogenous: pd.DataFrame, parameter: str, value_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """For each origin row, the latest value of `parameter` *available* at the origin (same station).

    Returns (values, age in hours since observation). Uses availability = ts + latency, so a value is only
    joined once it would really have been published."""
    rows = exogenous[exogenous["parameter"] == parameter]
    n = len(origins)
    if rows.empty:
        return np.full(n, np.nan), np.full(n, np.nan)
    latency = EXOGENOUS_LATENCY.get(parameter, pd.Timedelta(0))
    # Both join keys as tz-aware UTC microseconds: merge_asof refuses mixed units or tz-naive vs tz-aware.
    rows = rows.assign(
        available_at=(pd.to_datetime(rows["ts"], utc=True) + latency).dt.as_unit("us"), observed_at=rows["ts"]
    )
    rows = rows[["station_id", "available_at", "observed_at", value_column]].dropna(subset=[value_column])
    rows = rows.sort_values("available_at", kind="stable")
    left = pd.DataFrame(
        {
            "station_id": origins["station_id"].astype(str).to_numpy(),
            "ts": pd.to_datetime(origins["ts"], utc=True).dt.as_unit("us").array,
        }
    )
    left["_row"] = np.arange(n)
    left = left.sort_values("ts", kind="stable")
    rows = rows.assign(station_id=rows["station_id"].astype(str))
    joined = pd.merge_asof(
        left, rows, left_on="ts", right_on="available_at", by="station_id", direction="backward"
    )
    joined = joined.sort_values("_row")
    values = joined[value_column].to_numpy(dtype="float64")
    age = (
        joined["ts"] - pd.to_datetime(joined["observed_at"], utc=True)
    ).dt.total_seconds().to_numpy() / 3600
    age = np.asarray(age, dtype="float64")
    max_age = EXOGENOUS_MAX_AGE.get(parameter)
    if max_age is not None:
        stale = age > (latency + max_age).total_seconds() / 3600
        values = np.where(stale, np.nan, values)
    return values, age


def exogenous_features(origins: pd.DataFrame, exogenous: pd.DataFrame | None) -> pd.DataFrame:
    """Rainfall (last available day, last 3 days), CWC level/discharge, satellite indices as of each origin.

    `exogenous` is long (station_id, parameter, ts, value) as in the raw.* tables. Station ids are the
    platform's ids (IMD rainfall is interpolated to stations; CWC and satellite rows carry the station id)."""
    names = feature_columns()[feature_columns().index("rain_1d_mm") :]
    out = pd.DataFrame(np.nan, index=origins.index, columns=names)
    if exogenous is None or exogenous.empty or origins.empty:
        return out
    exo = exogenous[["station_id", "parameter", "ts", "value"]].copy()
    exo["ts"] = pd.to_datetime(exo["ts"], utc=True)
    exo = exo.sort_values(["station_id", "parameter", "ts"], kind="stable")
    rain = exo[exo["parameter"] == "rainfall_mm"].copy()
    if not rain.empty:
        # Sum of the last RAIN_WINDOW_DAYS daily totals, computed on the daily rows themselves so it is
        # joined with the same availability rule as the daily value.
        rain[f"rain_{RAIN_WINDOW_DAYS}d"] = (
            rain.groupby("station_id")["value"]
            .rolling(RAIN_WINDOW_DAYS, min_periods=1)
            .sum()
            .reset_index(level=0, drop=True)
        )
        out["rain_1d_mm"], _ = _asof_join(origins, rain, "rainfall_mm", "value")
        out[f"rain_{RAIN_WINDOW_DAYS}d_mm"], _ = _asof_join(
            origins, rain, "rainfall_mm", f"rain_{RAIN_WINDOW_DAYS}d"
        )
    for parameter in ("water_level_m", "discharge_m3_s"):
        out[parameter], _ = _asof_join(origins, exo, parameter, "value")
    ages = []
    for parameter in ("ndwi", "ndti", "ndci", "chl_a_mg_m3"):
        out[parameter], age = _asof_join(origins, exo, parameter, "value")
        ages.append(age)
    stacked = np.vstack(ages)
    seen = ~np.isnan(stacked).all(axis=0)
    newest = np.full(stacked.shape[1], np.nan)
    newest[seen] = np.nanmin(stacked[:, seen], axis=0)
    out["satellite_age_d"] = newest / 24
    return out


def build_features(
    hourly: pd.DataFrame,
    exogenous: pd.DataFrame | None = None,
    *,
    horizons: Sequence[int] = HORIZONS_H,
    origins_from: pd.Timestamp | None = None,
    origins_to: pd.Timestamp | None = None,
    with_targets: bool = True,
) -> pd.DataFrame:
    """One row per (station, parameter, origin ts) with the features known at the origin and the targets.

    `hourly`: long (station_id, parameter, ts, value), ts = end of the hour (see module docstring). Origins
    are the hourly grid points in [origins_from, origins_to] (default: the whole span) where the series has
    a current value (last observation at most MAX_CARRY_H old). Targets `target_{h}h` are the hourly values
    at ts + h (NaN where not observed) and are the only columns that look forward.
    """
    columns = feature_columns(horizons)
    targets = target_columns(horizons) if with_targets else []
    empty = pd.DataFrame(columns=[*KEY_COLUMNS, *columns[1:], *targets])
    if hourly.empty:
        return empty
    times = pd.to_datetime(hourly["ts"], utc=True)
    first, last = times.min(), times.max()
    # Origins are whole hours (an IST day starts at 18:30 UTC: its first origin is 19:00 UTC).
    origins_from = None if origins_from is None else pd.Timestamp(origins_from).ceil("h")
    origins_to = None if origins_to is None else pd.Timestamp(origins_to).floor("h")
    history = pd.Timedelta(hours=max(lags_for(horizons)) + max(ROLLING_WINDOWS_H))
    start = first if origins_from is None else max(first, pd.Timestamp(origins_from) - history)
    end = last + pd.Timedelta(hours=max(horizons)) if with_targets else last
    if origins_to is not None:
        end = max(min(end, pd.Timestamp(origins_to) + pd.Timedelta(hours=max(horizons))), start)
    window = hourly[(times >= start) & (times <= end)]
    wide = _wide_hourly(window, start, end)

    features: dict[str, pd.DataFrame | np.ndarray] = {}
    age = _hours_since_observed(wide)
    carried = wide.ffill(limit=MAX_CARRY_H)
    features["last_value"] = carried
    features["age_h"] = np.where(age <= MAX_CARRY_H, age, np.nan)
    for k in lags_for(horizons):
        features[f"lag_{k}h"] = wide.shift(k)
    for window_h in ROLLING_WINDOWS_H:
        rolling = wide.rolling(window_h, min_periods=max(1, window_h // 4))
        features[f"roll_mean_{window_h}h"] = rolling.mean()
        features[f"roll_std_{window_h}h"] = rolling.std()
    rolling_day = wide.rolling(24, min_periods=6)
    features["roll_min_24h"] = rolling_day.min()
    features["roll_max_24h"] = rolling_day.max()
    features["diff_1h"] = carried - carried.shift(1)
    features["diff_24h"] = carried - carried.shift(24)
    for h in daily_cycle_horizons(horizons):
        same_hour_yesterday = wide.shift(DIURNAL_PERIOD_H - h)
        features[f"seasonal_minus_now_{h}h"] = same_hour_yesterday - carried
        features[f"yesterday_change_{h}h"] = same_hour_yesterday - wide.shift(DIURNAL_PERIOD_H)
    for h in horizons if with_targets else ():
        features[f"target_{h}h"] = wide.shift(-h)

    long = _to_long(features, wide.columns, wide.index)  # type: ignore[arg-type]
    keep = long["last_value"].notna().to_numpy().copy()
    if origins_from is not None:
        keep &= (long["ts"] >= pd.Timestamp(origins_from)).to_numpy()
    if origins_to is not None:
        keep &= (long["ts"] <= pd.Timestamp(origins_to)).to_numpy()
    else:
        keep &= (long["ts"] <= last).to_numpy()
    long = long[keep].reset_index(drop=True)
    if long.empty:
        return empty
    long = pd.concat([long, calendar_features(long["ts"])], axis=1)
    if "rain_1d_mm" in columns:
        long = pd.concat([long, exogenous_features(long, exogenous)], axis=1)
    long = long[[*KEY_COLUMNS, *columns[1:], *targets]]
    long["station_id"] = long["station_id"].astype(str)
    long["parameter"] = long["parameter"].astype(str)
    return long.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
