"""A station's financial year as MPCB summarises it (pure; the asset does the I/O).

MPCB's "Water Quality Status of Maharashtra" reports a financial year (April–March) per station: the mean WQI,
the share of samples in each WQI class, which criteria of the stretch's designated best use were exceeded and
how often. Beside those this adds what a reader asks next: how the year compares with the previous one, and
whether the station has a long-term trend (seasonal Mann-Kendall with Sen's slope, indices.trend) over every
financial year available up to this one.

The designated class comes from ``ref.stations.designated_best_use``; where a stretch has none the default
(class C, "drinking water source after conventional treatment", the use most Maharashtra rivers are monitored
against) is applied and ``designation_source`` says so.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from purehealth_pipelines.indices import criteria_exceedances, seasonal_trend
from purehealth_pipelines.indices.trend import TREND_MIN_YEARS
from purehealth_pipelines.indices.wqi import WQI_BANDS, classify_wqi
from purehealth_pipelines.vocabulary import TIMEZONE

DEFAULT_DESIGNATED_CLASS = "C"
WQI_CLASS_COLUMNS = {
    "A": "samples_class_a",
    "B": "samples_class_b",
    "C": "samples_class_c",
    "D/E": "samples_class_de",
}
WQI_CLASS_RANK = {letter: rank for rank, (_, _, letter) in enumerate(WQI_BANDS)}  # A best
ANNUAL_COLUMNS: list[str] = [
    "station_id",
    "fy_start",
    "financial_year",
    "months_sampled",
    "samples",
    "samples_with_wqi",
    "wqi_mean",
    "wqi_min",
    "wqi_max",
    "wqi_label",
    "wqi_class",
    *WQI_CLASS_COLUMNS.values(),
    "designated_class",
    "designation_source",
    "samples_exceeding",
    "exceedances",
    "previous_wqi_mean",
    "previous_wqi_class",
    "class_change",
    "trend",
    "trend_p_value",
    "trend_sen_slope",
    "trend_tau",
    "trend_years",
    "trend_note",
]


def financial_year_label(start_year: int) -> str:
    """2025 -> '2025-26', MPCB's label for April 2025 – March 2026."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def financial_year_bounds(start_year: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[1 April start_year, 1 April start_year + 1) at IST midnight, as UTC instants."""
    start = pd.Timestamp(f"{start_year}-04-01", tz=TIMEZONE).tz_convert("UTC")
    end = pd.Timestamp(f"{start_year + 1}-04-01", tz=TIMEZONE).tz_convert("UTC")
    return start, end


def exceedance_counts(samples: pd.DataFrame, designated_class: str) -> tuple[dict[str, dict[str, int]], int]:
    """Per criterion of the class: samples that exceeded it and samples that measured it; and the number of
    samples exceeding at least one criterion."""
    flags = criteria_exceedances(samples, designated_class)
    counts = {
        criterion: {"exceeded": int(column.sum(skipna=True)), "measured": int(column.notna().sum())}
        for criterion, column in flags.items()
    }
    any_exceeded = flags.fillna(False).any(axis=1) if not flags.empty else pd.Series(dtype=bool)
    return counts, int(any_exceeded.sum())


def _class_change(current: object, previous: object) -> str | None:
    if pd.isna(current) or pd.isna(previous):
        return None
    now, before = WQI_CLASS_RANK[str(current)], WQI_CLASS_RANK[str(previous)]
    return "better" if now < before else "worse" if now > before else "same"


def station_wqi_annual(
    samples: pd.DataFrame,
    monthly: pd.DataFrame,
    fy_start_year: int,
    *,
    designations: dict[str, str] | None = None,
    default_class: str = DEFAULT_DESIGNATED_CLASS,
    min_trend_years: int = TREND_MIN_YEARS,
) -> pd.DataFrame:
    """One row per station sampled in the financial year starting April ``fy_start_year``.

    ``samples``: mart.sample_wqi rows (at least this and the previous financial year); ``monthly``:
    mart.station_wqi_monthly rows (station_id, month, wqi) of every year up to this one, for the trend.
    """
    start, end = financial_year_bounds(fy_start_year)
    previous_start, _ = financial_year_bounds(fy_start_year - 1)
    if samples.empty:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ANNUAL_COLUMNS})
    sample_ts = pd.to_datetime(samples["sample_ts"], utc=True)
    year = samples[(sample_ts >= start) & (sample_ts < end)]
    before = samples[(sample_ts >= previous_start) & (sample_ts < start)]
    if year.empty:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ANNUAL_COLUMNS})
    history = monthly.copy()
    if not history.empty:
        history = history[pd.to_datetime(history["month"], utc=True) < end]
    months_by_station = {sid: frame for sid, frame in history.groupby("station_id")} if len(history) else {}
    previous_mean = before.groupby("station_id")["wqi"].mean()
    designations = designations or {}

    rows = []
    for station_id, frame in year.groupby("station_id", sort=True):
        wqi = frame["wqi"].dropna()
        classes = frame["wqi_class"].dropna().value_counts()
        designated = designations.get(station_id)
        designated_class = designated if isinstance(designated, str) and designated else default_class
        counts, exceeding = exceedance_counts(frame, designated_class)
        series = months_by_station.get(station_id)
        trend = seasonal_trend(
            series.set_index(pd.to_datetime(series["month"], utc=True).dt.tz_convert(TIMEZONE))["wqi"]
            if series is not None
            else pd.Series(dtype=float),
            min_years=min_trend_years,
        )
        months = pd.to_datetime(frame["sample_ts"], utc=True).dt.tz_convert(TIMEZONE).dt.month.nunique()
        previous = previous_mean.get(station_id, np.nan)
        rows.append(
            {
                "station_id": station_id,
                "fy_start": start,
                "financial_year": financial_year_label(fy_start_year),
                "months_sampled": int(months),
                "samples": len(frame),
                "samples_with_wqi": len(wqi),
                "wqi_mean": float(wqi.mean()) if len(wqi) else np.nan,
                "wqi_min": float(wqi.min()) if len(wqi) else np.nan,
                "wqi_max": float(wqi.max()) if len(wqi) else np.nan,
                **{column: int(classes.get(letter, 0)) for letter, column in WQI_CLASS_COLUMNS.items()},
                "designated_class": designated_class,
                "designation_source": "ref.stations" if designated_class == designated else "default",
                "samples_exceeding": exceeding,
                "exceedances": json.dumps(counts),
                "previous_wqi_mean": float(previous) if pd.notna(previous) else np.nan,
                "trend": trend.trend,
                "trend_p_value": trend.p_value,
                "trend_sen_slope": trend.sen_slope_per_year,
                "trend_tau": trend.tau,
                "trend_years": trend.years,
                "trend_note": trend.note,
            }
        )
    out = pd.DataFrame(rows)
    bands = classify_wqi(out["wqi_mean"])
    out["wqi_label"] = bands["wqi_label"].array
    out["wqi_class"] = bands["wqi_class"].array
    out["previous_wqi_class"] = classify_wqi(out["previous_wqi_mean"])["wqi_class"].array
    out["class_change"] = pd.array(
        [_class_change(c, p) for c, p in zip(out["wqi_class"], out["previous_wqi_class"], strict=True)],
        dtype="string",
    )
    for column in ("trend_p_value", "trend_sen_slope", "trend_tau"):
        out[column] = out[column].astype("float64")
    out["trend"] = out["trend"].astype("string")
    out["fy_start"] = pd.to_datetime(out["fy_start"], utc=True)
    return out[ANNUAL_COLUMNS]


__all__ = [
    "ANNUAL_COLUMNS",
    "DEFAULT_DESIGNATED_CLASS",
    "exceedance_counts",
    "financial_year_bounds",
    "financial_year_label",
    "station_wqi_annual",
]
