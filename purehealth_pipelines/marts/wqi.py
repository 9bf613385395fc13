"""Daily station WQI and CPCB best-use class from the day's good readings (pure; the asset does the I/O).

Each input parameter is the day's mean of good readings (qc_flag = 1) from core.readings_preferred; a
censored lab value enters as its bound (">1600" as 1600, as indices.cpcb_wqi expects) and is listed in
`censored_inputs` so nobody mistakes it for a measured number. The formulas are NOT here: they are
purehealth_pipelines.indices (cpcb_wqi, best_use_class).

Live stations measure DO, pH, temperature and EC continuously but never BOD or coliform (those need a lab:
BOD is a 5-day incubation). So a station-day without its own BOD, FC or TC borrows them from the most recent
lab sample (mart.sample_wqi's inputs) of the same station or of the lab station it is co-located with
(`ref.stations.colocated_lab_station_id`), taken at most `max_lab_age_days` (default 45) before the day
began. The row names the lab station, the sample time and its age; with no such sample the WQI stays empty
and `wqi_note` says why. This deliberately mixes a day's sensor means with a lab value up to weeks old: it
is what the data allow, and the age column lets a user decide how much to trust it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purehealth_pipelines.indices import CPCB_BEST_USE_CLASSES, best_use_class, cpcb_wqi
from purehealth_pipelines.indices.wqi import WQI_INPUT_COLUMNS, WQI_OUTPUT_COLUMNS
from purehealth_pipelines.vocabulary import TIMEZONE, QartodFlag

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
# Parameters only a lab measures: borrowed by a station-day that lacks them. FC for the WQI, BOD for both,
# TC for the best-use class.
LAB_ONLY_INPUTS: tuple[str, ...] = ("bod_mg_l", "fc_mpn_100ml", "tc_mpn_100ml")
# A lab sample lends its values only if it has both WQI lab inputs (one event, one time and age in the row).
LAB_REQUIRED: tuple[str, ...] = ("bod_mg_l", "fc_mpn_100ml")
DEFAULT_MAX_LAB_AGE_DAYS = 45.0
DAILY_COLUMNS: list[str] = [
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
    "lab_station_id",
    "lab_sample_ts",
    "lab_sample_age_days",
    "lab_inputs",
    "lab_max_age_days",
    "wqi_note",
]

DAILY_INPUTS_SQL = f"""
SELECT station_id, time_bucket('1 day', ts, '{TIMEZONE}') AS day, parameter,
       avg(value) AS value, string_agg(DISTINCT censored, '') AS censored, count(*) AS readings
FROM core.readings_preferred
WHERE ts >= %(start)s AND ts < %(end)s AND qc_flag = {QartodFlag.PASS:d} AND value IS NOT NULL
  AND parameter = ANY(%(parameters)s)
GROUP BY 1, 2, 3
"""


def latest_lab_samples(days: pd.DataFrame, samples: pd.DataFrame, colocation: dict[str, str]) -> pd.DataFrame:
    """For each (station_id, day): the most recent lab sample with BOD and FC taken before the day ended, of
    the station itself or of its co-located lab station. Columns ``lab_station_id, lab_sample_ts`` and the
    LAB_ONLY_INPUTS of that sample (NaN / NaT where there is none), on ``days``' index."""
    out = pd.DataFrame(index=days.index)
    out["lab_station_id"] = pd.Series(pd.NA, index=days.index, dtype="string")
    out["lab_sample_ts"] = pd.Series(pd.NaT, index=days.index, dtype="datetime64[us, UTC]")
    for column in LAB_ONLY_INPUTS:
        out[column] = np.nan
    if days.empty or samples.empty:
        return out
    usable = samples.dropna(subset=list(LAB_REQUIRED))
    if usable.empty:
        return out
    usable = usable.assign(sample_ts=pd.to_datetime(usable["sample_ts"], utc=True).dt.as_unit("us"))
    usable = usable.sort_values("sample_ts")[["station_id", "sample_ts", *LAB_ONLY_INPUTS]]
    day_end = (pd.to_datetime(days["day"], utc=True) + pd.Timedelta(days=1)).dt.as_unit("us")
    probe = pd.DataFrame({"row": np.arange(len(days)), "day_end": day_end.to_numpy()})
    candidates = []
    for candidate in (days["station_id"], days["station_id"].map(colocation)):
        lookup = probe.assign(lab_station_id=pd.Series(candidate.to_numpy(), dtype="str"))
        lookup = lookup.dropna(subset=["lab_station_id"]).sort_values("day_end")
        # merge_asof takes the last sample strictly before the day's end (allow_exact_matches=False).
        found = pd.merge_asof(
            lookup,
            usable.rename(columns={"station_id": "lab_station_id"}).astype({"lab_station_id": "str"}),
            left_on="day_end",
            right_on="sample_ts",
            by="lab_station_id",
            allow_exact_matches=False,
        )
        candidates.append(found[found["sample_ts"].notna()])
    # Own sample or the co-located station's: whichever is more recent.
    best = (
        pd.concat(candidates).sort_values("sample_ts", kind="stable").groupby("row").tail(1).set_index("row")
    )
    if best.empty:
        return out
    rows = best.index.to_numpy()
    out.iloc[rows, out.columns.get_loc("lab_station_id")] = best["lab_station_id"].to_numpy()
    out.iloc[rows, out.columns.get_loc("lab_sample_ts")] = best["sample_ts"].to_numpy()
    for column in LAB_ONLY_INPUTS:
        out.iloc[rows, out.columns.get_loc(column)] = best[column].to_numpy(dtype=float)
    return out


def station_wqi_daily(
    daily: pd.DataFrame,
    do_saturation: str = "fixed",
    *,
    lab_samples: pd.DataFrame | None = None,
    colocation: dict[str, str] | None = None,
    max_lab_age_days: float = DEFAULT_MAX_LAB_AGE_DAYS,
) -> pd.DataFrame:
    """Long daily means (station_id, day, parameter, value, censored, readings) -> one row per station-day.

    ``lab_samples`` (columns station_id, sample_ts and the LAB_ONLY_INPUTS, as marts.wqi_samples.lab_samples
    gives) and ``colocation`` (live station -> lab station) let a station-day without its own BOD/FC/TC take
    them from the latest lab sample no older than ``max_lab_age_days`` (module docstring).
    """
    if daily.empty:
        return pd.DataFrame(columns=DAILY_COLUMNS)
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
    own = wide.reset_index()
    lab = latest_lab_samples(
        own[["station_id", "day"]],
        lab_samples if lab_samples is not None else pd.DataFrame(),
        colocation or {},
    )
    day_start = pd.to_datetime(own["day"], utc=True)
    age = (day_start - lab["lab_sample_ts"]).dt.total_seconds() / 86400.0
    age = age.clip(lower=0.0)  # a sample taken during the day is as fresh as the day
    needs = own[list(LAB_ONLY_INPUTS)].isna()
    fresh = lab["lab_sample_ts"].notna() & (age <= max_lab_age_days)
    borrowed = needs & fresh.to_numpy()[:, None] & lab[list(LAB_ONLY_INPUTS)].notna().to_numpy()
    for column in LAB_ONLY_INPUTS:
        own.loc[borrowed[column], column] = lab.loc[borrowed[column], column]
    lent = borrowed.any(axis=1)
    wide = own.set_index(["station_id", "day"])

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
    out["lab_station_id"] = lab["lab_station_id"].where(lent.to_numpy()).to_numpy()
    out["lab_sample_ts"] = lab["lab_sample_ts"].where(lent.to_numpy()).to_numpy()
    out["lab_sample_age_days"] = age.where(lent.to_numpy()).round(3).to_numpy()
    out["lab_inputs"] = [
        ",".join(c for c in LAB_ONLY_INPUTS if flags[c]) or None for flags in borrowed.to_dict("records")
    ]
    out["lab_max_age_days"] = float(max_lab_age_days)
    out["wqi_note"] = _wqi_notes(out, needs, lab, age, max_lab_age_days, colocation or {})
    return out[DAILY_COLUMNS]


def _wqi_notes(
    out: pd.DataFrame,
    needs: pd.DataFrame,
    lab: pd.DataFrame,
    age: pd.Series,
    max_age: float,
    colocation: dict[str, str],
) -> list[str | None]:
    """Why a row has no WQI, in words: inputs missing, and for lab inputs whether a sample was too old."""
    notes: list[str | None] = []
    for i, row in enumerate(out.itertuples(index=False)):
        if not pd.isna(row.wqi):
            notes.append(None)
            continue
        missing = [c for c in WQI_INPUT_COLUMNS if pd.isna(getattr(row, c))]
        parts = [f"missing {', '.join(missing)}"] if missing else ["incomplete inputs"]
        if any(needs.iloc[i][c] for c in LAB_REQUIRED if c in missing):
            stations = " or ".join(s for s in (row.station_id, colocation.get(row.station_id)) if s)
            sample_ts = lab["lab_sample_ts"].iloc[i]
            if pd.isna(sample_ts):
                parts.append(f"no lab sample with BOD and FC at {stations}")
            elif age.iloc[i] > max_age:
                when = pd.Timestamp(sample_ts).tz_convert(TIMEZONE).strftime("%Y-%m-%d %H:%M")
                parts.append(
                    f"latest lab sample with BOD and FC ({lab['lab_station_id'].iloc[i]}, {when} IST) is "
                    f"{age.iloc[i]:.1f} days old, over the {max_age:g}-day limit"
                )
        notes.append("; ".join(parts))
    return notes
