"""Long-term WQI trend at a station: seasonal Mann-Kendall test with Sen's slope.

Why this test: monthly river WQI has a strong seasonal cycle (pre-monsoon low, monsoon dilution), irregular
gaps (a month not sampled, a quarterly station) and non-normal values; the seasonal Mann-Kendall test (Hirsch,
Slack & Smith 1982; Hirsch & Slack 1984) compares each month only with the same month of other years, so the
cycle does not masquerade as a trend, and it needs no distributional assumption. Its companion, the seasonal
Sen's slope (median of the within-season pairwise slopes), gives the size of the change in WQI points per
year. The statistics come from ``pymannkendall`` (Hussain & Mahmud 2019), not a hand-rolled test.

Seasons are the twelve months of MPCB's financial year (April first). A station needs ``min_years``
financial years with at least one sample before a trend is reported: fewer points per season than that and
the test has almost no power, so the answer is "not enough years", never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymannkendall

TREND_MIN_YEARS = 3
TREND_ALPHA = 0.05
FY_FIRST_MONTH = 4  # April: MPCB's financial year


@dataclass(frozen=True)
class Trend:
    """Seasonal Mann-Kendall result for one station's monthly series."""

    trend: str | None  # 'increasing', 'decreasing', 'no trend'; None when the series is too short
    p_value: float | None
    sen_slope_per_year: float | None
    tau: float | None
    years: int  # financial years with data
    note: str | None  # why there is no result, or what was tested


def financial_year_start(month: pd.Timestamp) -> int:
    """The calendar year in which the financial year of ``month`` starts (Jan 2026 -> 2025)."""
    return month.year if month.month >= FY_FIRST_MONTH else month.year - 1


def seasonal_matrix(monthly: pd.Series) -> np.ndarray:
    """Monthly values (index: month timestamps) -> a (financial years × 12) array, NaN where not sampled.

    Rows run from the first financial year with data to the last, April in column 0; a month sampled
    twice (two rows with the same month) is averaged.
    """
    values = monthly.dropna()
    if values.empty:
        return np.empty((0, 12))
    index = pd.DatetimeIndex(values.index)
    fy = np.array([financial_year_start(ts) for ts in index])
    season = (index.month.to_numpy() - FY_FIRST_MONTH) % 12
    first = int(fy.min())
    matrix = np.full((int(fy.max()) - first + 1, 12), np.nan)
    frame = pd.DataFrame({"row": fy - first, "col": season, "value": values.to_numpy(dtype=float)})
    for (row, col), value in frame.groupby(["row", "col"])["value"].mean().items():
        matrix[row, col] = value
    return matrix


def seasonal_trend(
    monthly: pd.Series, *, min_years: int = TREND_MIN_YEARS, alpha: float = TREND_ALPHA
) -> Trend:
    """Seasonal Mann-Kendall + seasonal Sen's slope of a monthly series (index = month timestamps).

    Returns "no trend" when the test is not significant at ``alpha`` (two-sided), and a ``None`` trend with
    a note when fewer than ``min_years`` financial years have data or every season has a single value.
    """
    matrix = seasonal_matrix(monthly)
    years = int((~np.isnan(matrix)).any(axis=1).sum()) if matrix.size else 0
    if years < min_years:
        return Trend(None, None, None, None, years, f"{years} financial year(s) with data; needs {min_years}")
    paired_seasons = int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum())
    if paired_seasons == 0:
        return Trend(None, None, None, None, years, "no month sampled in two different years")
    result = pymannkendall.seasonal_test(matrix.ravel(), period=12, alpha=alpha)
    if not np.isfinite(result.p):  # no variance at all (a constant series)
        return Trend("no trend", 1.0, 0.0, 0.0, years, "constant series")
    return Trend(
        str(result.trend),
        float(result.p),
        float(result.slope),
        float(result.Tau),
        years,
        f"seasonal Mann-Kendall over {years} financial years, {paired_seasons} months with ≥ 2 years",
    )


__all__ = [
    "TREND_ALPHA",
    "TREND_MIN_YEARS",
    "Trend",
    "financial_year_start",
    "seasonal_matrix",
    "seasonal_trend",
]
