"""Daily station WQI and CPCB best-use class from the day's good readings (pure; the asset does the I/O).

Each input parameter is the day's mean of good readings (qc_flag = 1) from core.readings_preferred; a
censored lab value enters as its bound (">1600" as 1600, as indices.cpcb_wqi expects) and is listed in
`censored_inputs` so nobody mistakes it for a measured number. The formulas are NOT here: they are
purehealth_pipelines.indices (cpcb_wqi, best_use_class).
"""

from __future__ import annotations

import pandas as pd

from purehealth_pipelines.indices import CPCB_BEST_USE_CLASSES, best_use_class, cpcb_wqi
from purehealth_pipelines.indices.wqi import WQI_OUTPUT_COLUMNS

WQI_PARAMETERS: tuple[str, ...] = (
    "do_mg_l",
    "bod_mg_l",
    "ph",
    "fc_mpn_100ml",
    "tc_mpn_100ml",
    "temp_c",
    "ec_us_cm",
    "free_ammonia_n_mg_l",
    "sar",
    "boron_mg_l",
)
STORED_INPUTS: tuple[str, ...] = (
    "do_mg_l",
    "bod_mg_l",
    "ph",
    "fc_mpn_100ml",
    "tc_mpn_100ml",
    "temp_c",
    "ec_us_cm",
)
BEST_USE = {c.code: c.best_use for c in CPCB_BEST_USE_CLASSES}

DAILY_INPUTS_SQL = """
SELECT station_id, time_bucket('1 day', ts, 'Asia/Kolkata') AS day, parameter,
       avg(value) AS value, string_agg(DISTINCT censored, '') AS censored, count(*) AS readings
FROM core.readings_preferred
WHERE ts >= %(start)s AND ts < %(end)s AND qc_flag = 1 AND value IS NOT NULL
  AND parameter = ANY(%(parameters)s)
GROUP BY 1, 2, 3
"""


def station_wqi_daily(daily: pd.DataFrame, do_saturation: str = "fixed") -> pd.DataFrame:
    """Long daily means (station_id, day, parameter, value, censored, readings) -> one row per station-day."""
    columns = [
        "station_id",
        "day",
        *STORED_INPUTS,
        *WQI_OUTPUT_COLUMNS,
        "best_use_class",
        "best_use",
        "missing_parameters",
        "failed_criteria",
        "do_saturation_method",
        "censored_inputs",
        "good_readings",
    ]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    wide = daily.pivot_table(
        index=["station_id", "day"], columns="parameter", values="value", aggfunc="first"
    )
    wide = wide.reindex(columns=list(WQI_PARAMETERS))
    counts = daily.groupby(["station_id", "day"])["readings"].sum()
    censored = (
        daily[daily["censored"].notna() & (daily["censored"] != "")]
        .assign(tag=lambda f: f["parameter"] + f["censored"])
        .groupby(["station_id", "day"])["tag"]
        .agg(lambda tags: ",".join(sorted(tags)))
    )
    if do_saturation == "temperature":
        wqi = cpcb_wqi(wide, do_saturation="temperature")
    else:
        wqi = cpcb_wqi(wide, do_saturation="fixed")
    classes = best_use_class(wide)
    out = pd.concat([wide[list(STORED_INPUTS)], wqi, classes], axis=1).reset_index()
    out["best_use"] = out["best_use_class"].map(BEST_USE)
    out["do_saturation_method"] = do_saturation
    out["censored_inputs"] = censored.reindex(pd.MultiIndex.from_frame(out[["station_id", "day"]])).to_numpy()
    out["good_readings"] = counts.reindex(pd.MultiIndex.from_frame(out[["station_id", "day"]])).to_numpy()
    return out[columns]
