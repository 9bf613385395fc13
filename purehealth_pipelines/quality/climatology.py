"""Learn the monthly climatology spans used by the QARTOD climatology test.

The spans come from each station's own history (per IST calendar month), not from a published table:
there is none for Maharashtra stations at monthly resolution, and a polluted Pune reach and a clean
Krishna reach need different spans. Quantiles are computed in SQL (percentile_cont); this module turns
them into spans with the margin and minimum sample count of the thresholds file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purehealth_pipelines.quality.config import ClimatologySettings
from purehealth_pipelines.vocabulary import TIMEZONE, QartodFlag

# Learned from every observation not already failed (qc_flag 4) and not missing: learning only from readings
# inside the gross-range *suspect* span truncated the span of any month whose normal values sit outside it
# (real LRO data: 97.8 % of one June flagged). Each month pools its neighbours (± neighbour_months).
CLIMATOLOGY_STATS_SQL = f"""
WITH base AS (
    SELECT r.station_id, r.parameter, r.value, r.ts,
           extract(month FROM r.ts AT TIME ZONE '{TIMEZONE}')::int AS m,
           extract(year FROM r.ts AT TIME ZONE '{TIMEZONE}')::int AS y
    FROM core.readings r
    JOIN ref.source_priority p ON p.source = r.source AND p.is_observation
    WHERE r.qc_flag NOT IN ({QartodFlag.FAIL:d}, {QartodFlag.MISSING:d})
      AND r.value IS NOT NULL AND r.censored IS NULL
)
SELECT station_id, parameter, ((m - 1 + k + 12) %% 12) + 1 AS month,
       percentile_cont(%(q_low)s) WITHIN GROUP (ORDER BY value) AS q_low,
       percentile_cont(%(q_high)s) WITHIN GROUP (ORDER BY value) AS q_high,
       count(*) AS n_samples, count(DISTINCT y) AS n_years, min(ts) AS history_start, max(ts) AS history_end
FROM base CROSS JOIN generate_series(-%(neighbours)s::int, %(neighbours)s::int) AS k
GROUP BY 1, 2, 3
"""


def climatology_stats(history: pd.DataFrame, settings: ClimatologySettings) -> pd.DataFrame:
    """CLIMATOLOGY_STATS_SQL's statistics from a frame (station_id, parameter, ts, value[, qc_flag]).

    For QC outside the warehouse (`purehealth quality score-file --history`): rows with qc_flag 4 or 9 and
    missing values are left out, each month pools its neighbour months.
    """
    rows = history.dropna(subset=["value"])
    if "qc_flag" in rows.columns:
        rows = rows[~rows["qc_flag"].isin([4, 9])]
    local = pd.to_datetime(rows["ts"], utc=True).dt.tz_convert(TIMEZONE)
    base = pd.DataFrame(
        {
            "station_id": rows["station_id"].astype(str).to_numpy(),
            "parameter": rows["parameter"].astype(str).to_numpy(),
            "value": rows["value"].to_numpy(dtype=float),
            "ts": pd.to_datetime(rows["ts"], utc=True).to_numpy(),
            "m": local.dt.month.to_numpy(),
            "y": local.dt.year.to_numpy(),
        }
    )
    pooled = []
    for k in range(-settings.neighbour_months, settings.neighbour_months + 1):
        pooled.append(base.assign(month=((base["m"] - 1 + k) % 12) + 1))
    frame = pd.concat(pooled, ignore_index=True)
    grouped = frame.groupby(["station_id", "parameter", "month"], sort=True)
    stats = grouped["value"].quantile(settings.quantiles[0]).rename("q_low").to_frame()
    stats["q_high"] = grouped["value"].quantile(settings.quantiles[1])
    stats["n_samples"] = grouped["value"].size()
    stats["n_years"] = grouped["y"].nunique()
    stats["history_start"] = grouped["ts"].min()
    stats["history_end"] = grouped["ts"].max()
    return stats.reset_index()


def climatology_spans(stats: pd.DataFrame, settings: ClimatologySettings, version: str) -> pd.DataFrame:
    """Quantile statistics -> suspect spans [q_low − m·w, q_high + m·w], w = q_high − q_low.

    Months with fewer than `min_samples` readings get no span (the test then says "not evaluated").
    A constant history (w = 0) gets a width of 1 % of the value so it does not flag every change.
    Short history widens the span: m = margin · (1 + short_history_factor / n_years) — two years of a
    month have not seen a wet and a dry year, a cold and a warm one (real LRO data: Main Street pH in May,
    learned from 2017–2018, flagged 63 % of 2019 with precision 0.02). The margin is never less than the
    parameter's `min_margin` (the error a technician would correct).
    """
    enough = stats[stats["n_samples"] >= settings.min_samples].copy()
    width = (enough["q_high"] - enough["q_low"]).to_numpy(dtype=float)
    floor = 0.01 * np.abs(enough["q_high"].to_numpy(dtype=float)) + 1e-9
    width = np.maximum(width, floor)
    years = (
        pd.to_numeric(enough["n_years"], errors="coerce").fillna(np.inf).to_numpy(dtype=float)
        if "n_years" in enough.columns
        else np.full(len(enough), np.inf)
    )
    margin = settings.margin * (1 + settings.short_history_factor / np.maximum(years, 1.0)) * width
    least = enough["parameter"].map(settings.min_margin).fillna(0.0).to_numpy(dtype=float)
    margin = np.maximum(margin, least)
    enough["suspect_min"] = enough["q_low"] - margin
    enough["suspect_max"] = enough["q_high"] + margin
    enough["version"] = version
    columns = [
        "version",
        "station_id",
        "parameter",
        "month",
        "suspect_min",
        "suspect_max",
        "q_low",
        "q_high",
        "n_samples",
        "history_start",
        "history_end",
    ]
    return enough[columns].reset_index(drop=True)
