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

CLIMATOLOGY_STATS_SQL = """
SELECT r.station_id, r.parameter,
       extract(month FROM r.ts AT TIME ZONE 'Asia/Kolkata')::int AS month,
       percentile_cont(%(q_low)s) WITHIN GROUP (ORDER BY r.value) AS q_low,
       percentile_cont(%(q_high)s) WITHIN GROUP (ORDER BY r.value) AS q_high,
       count(*) AS n_samples, min(r.ts) AS history_start, max(r.ts) AS history_end
FROM core.readings r
JOIN ref.source_priority p ON p.source = r.source AND p.is_observation
WHERE r.qc_gross_range = 1 AND r.value IS NOT NULL AND r.censored IS NULL
GROUP BY 1, 2, 3
"""


def climatology_spans(stats: pd.DataFrame, settings: ClimatologySettings, version: str) -> pd.DataFrame:
    """Quantile statistics -> suspect spans [q_low − m·w, q_high + m·w], w = q_high − q_low.

    Months with fewer than `min_samples` readings get no span (the test then says "not evaluated").
    A constant history (w = 0) gets a width of 1 % of the value so it does not flag every change.
    """
    enough = stats[stats["n_samples"] >= settings.min_samples].copy()
    width = (enough["q_high"] - enough["q_low"]).to_numpy(dtype=float)
    floor = 0.01 * np.abs(enough["q_high"].to_numpy(dtype=float)) + 1e-9
    width = np.maximum(width, floor)
    enough["suspect_min"] = enough["q_low"] - settings.margin * width
    enough["suspect_max"] = enough["q_high"] + settings.margin * width
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
