"""The WQI at the grain the data allow: one lab sampling event (pure; the assets do the I/O).

Why per sample: no source measures DO, BOD, fecal coliform and pH at one station on one day except a lab grab
sample (the live sondes measure DO and pH only; NWMP publishes annual min/max). MPCB computes its NSF-based
WQI per monthly sample and summarises months and financial years from those, so the marts do the same:

* :func:`lab_samples` turns long lab readings from core.readings into one row per sampling event
  ``(station_id, sample_ts, source)`` with the inputs it may use. A reading is an accepted input when it has a
  value and is good (``qc_flag = 1``) or censored with a bound (``censored`` '<'/'>' and ``qc_flag`` 1–3): a
  coliform count at the top of the MPN table (">1600") is the most informative value a lab can give, and a
  climatology test flagging it suspect is exactly the information censoring removed. Bad (4) and missing (9)
  readings are refused and named in ``excluded_inputs``; a censored value without a bound ("BDL") has nothing
  to compute with and is named there too.
* :func:`sample_wqi` scores each event with the formulas of ``purehealth_pipelines.indices`` (not here) and
  keeps events that lack an input, naming the missing parameters, so "why no WQI here?" has an answer in SQL.
* :func:`station_wqi_monthly` summarises per station and IST month (MPCB's cadence).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purehealth_pipelines.indices import best_use_class, cpcb_wqi
from purehealth_pipelines.indices.best_use import BELOW_E
from purehealth_pipelines.indices.wqi import WQI_INPUT_COLUMNS, WQI_OUTPUT_COLUMNS, classify_wqi
from purehealth_pipelines.marts.wqi import BEST_USE, STORED_INPUTS
from purehealth_pipelines.vocabulary import TIMEZONE, QartodFlag

# Sources whose readings are discrete lab samples (grab samples analysed in a laboratory). NWMP's annual
# min/max are statistics, not samples, and the live sondes are continuous: neither belongs here.
LAB_SOURCES: tuple[str, ...] = ("mpcb",)
SAMPLE_KEY: list[str] = ["station_id", "sample_ts", "source"]
# A sample stores the same inputs as a station-day of mart.station_wqi_daily (one list, in marts.wqi).
SAMPLE_PARAMETERS: tuple[str, ...] = STORED_INPUTS
CLASS_ORDER = {code: rank for rank, code in enumerate(["A", "B", "C", "D", "E", BELOW_E])}

LAB_READINGS_SQL = """
SELECT station_id, ts AS sample_ts, source, parameter, value, censored, qc_flag
FROM core.readings
WHERE ts >= %(start)s AND ts < %(end)s AND source = ANY(%(sources)s) AND parameter = ANY(%(parameters)s)
"""

SAMPLE_WQI_COLUMNS: list[str] = [
    *SAMPLE_KEY,
    *SAMPLE_PARAMETERS,
    *WQI_OUTPUT_COLUMNS[:6],  # do_sat_pct, si_do, si_fc, si_ph, si_bod, wqi
    "wqi_label",
    "wqi_class",
    "missing_parameters",
    "excluded_inputs",
    "censored_inputs",
    "best_use_class",
    "best_use",
    "best_use_missing_parameters",
    "failed_criteria",
    "used_parameters",
    "do_saturation_method",
]
MONTHLY_COLUMNS: list[str] = [
    "station_id",
    "month",
    "samples",
    "samples_with_wqi",
    "wqi",
    "wqi_min",
    "wqi_max",
    "wqi_label",
    "wqi_class",
    "best_use_class",
    "best_use",
    "do_mg_l",
    "bod_mg_l",
    "ph",
    "fc_mpn_100ml",
    "tc_mpn_100ml",
    "missing_parameters",
    "censored_inputs",
    "sources",
]


def accepted_inputs(long: pd.DataFrame) -> pd.Series:
    """Boolean mask of lab readings usable as index inputs (see module docstring)."""
    has_value = long["value"].notna()
    flag = long["qc_flag"].astype("int64")
    censored = long["censored"].notna() & (long["censored"].astype("string") != "")
    usable_bound = flag.isin([QartodFlag.PASS, QartodFlag.NOT_EVALUATED, QartodFlag.SUSPECT])
    return has_value & ((flag == QartodFlag.PASS) | (censored & usable_bound))


def _joined(frame: pd.DataFrame, column: str, keys: list[str]) -> pd.Series:
    """Comma-joined, sorted distinct text of ``column`` per key (empty groups are absent)."""
    if frame.empty:
        return pd.Series(dtype="str")
    return frame.groupby(keys)[column].agg(lambda values: ",".join(sorted(set(values))))


def lab_samples(long: pd.DataFrame, parameters: tuple[str, ...] = SAMPLE_PARAMETERS) -> pd.DataFrame:
    """Long lab readings -> one row per sampling event with accepted inputs and what was refused.

    ``long`` has ``station_id, sample_ts, source, parameter, value, censored, qc_flag``. Output: the key,
    one column per parameter (NaN = not accepted), ``excluded_inputs`` (e.g. ``"ph (qc_flag 4)"``),
    ``censored_inputs`` (e.g. ``"fc_mpn_100ml>"``) and ``used_parameters`` (the parameters of the
    core.readings rows used, whose key is (station_id, parameter, sample_ts, source)).
    """
    columns = [*SAMPLE_KEY, *parameters, "excluded_inputs", "censored_inputs", "used_parameters"]
    if long.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in parameters else "str") for c in columns})
    long = long[long["parameter"].isin(parameters)].copy()
    ok = accepted_inputs(long)
    events = pd.MultiIndex.from_frame(long[SAMPLE_KEY].drop_duplicates())
    accepted = long[ok]
    wide = accepted.pivot_table(index=SAMPLE_KEY, columns="parameter", values="value", aggfunc="first")
    wide = wide.reindex(index=events, columns=list(parameters)).astype("float64")
    wide.columns.name = None

    refused = long[~ok].copy()
    refused["why"] = np.where(
        refused["value"].isna() & refused["censored"].notna(),
        refused["parameter"] + refused["censored"].astype("string").fillna("") + " (no bound)",
        refused["parameter"] + " (qc_flag " + refused["qc_flag"].astype("int64").astype("string") + ")",
    )
    censored = accepted[accepted["censored"].notna() & (accepted["censored"].astype("string") != "")].copy()
    censored["tag"] = censored["parameter"] + censored["censored"].astype("string")
    out = wide.reset_index()
    index = pd.MultiIndex.from_frame(out[SAMPLE_KEY])
    for column, source_frame, text in (
        ("excluded_inputs", refused, "why"),
        ("censored_inputs", censored, "tag"),
        ("used_parameters", accepted, "parameter"),
    ):
        joined = _joined(source_frame, text, SAMPLE_KEY)
        out[column] = pd.array(joined.reindex(index).to_numpy(dtype=object), dtype="string")
    out["used_parameters"] = out["used_parameters"].fillna("")
    return out[columns]


def _missing(frame: pd.DataFrame, inputs: tuple[str, ...]) -> pd.Series:
    """Comma-joined names of the inputs that are NaN per row; missing (NA) when none is."""
    missing = np.full(len(frame), "", dtype=object)
    for column in inputs:
        absent = frame[column].isna().to_numpy()
        missing = np.where(absent, np.where(missing == "", column, missing + "," + column), missing)
    return pd.Series(pd.array(np.where(missing == "", None, missing), dtype="string"), index=frame.index)


def sample_wqi(samples: pd.DataFrame, do_saturation: str = "fixed") -> pd.DataFrame:
    """Score every sampling event of :func:`lab_samples`: WQI, band, best-use class, missing parameters."""
    if samples.empty:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in SAMPLE_WQI_COLUMNS})
    inputs = WQI_INPUT_COLUMNS + (("temp_c",) if do_saturation == "temperature" else ())
    wqi = cpcb_wqi(samples, do_saturation=do_saturation)  # type: ignore[arg-type]
    classes = best_use_class(samples)
    out = pd.concat([samples.reset_index(drop=True), wqi.reset_index(drop=True)], axis=1)
    out["missing_parameters"] = _missing(out, inputs).array
    out["best_use_class"] = classes["best_use_class"].array
    out["best_use"] = out["best_use_class"].map(BEST_USE).astype("string")
    out["best_use_missing_parameters"] = classes["missing_parameters"].replace("", pd.NA).array
    out["failed_criteria"] = classes["failed_criteria"].replace("", pd.NA).array
    out["do_saturation_method"] = do_saturation
    return out[SAMPLE_WQI_COLUMNS]


def month_start(ts: pd.Series) -> pd.Series:
    """IST midnight of the 1st of each timestamp's IST month, as UTC instants."""
    local = pd.to_datetime(ts, utc=True).dt.tz_convert(TIMEZONE)
    return (
        (local.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp())
        .dt.tz_localize(TIMEZONE)
        .dt.tz_convert("UTC")
    )


def _worst_class(classes: pd.Series) -> object:
    """The worst decided best-use class of a group (undecided samples do not lower or raise it)."""
    decided = [c for c in classes.dropna() if c in CLASS_ORDER]
    return max(decided, key=CLASS_ORDER.__getitem__) if decided else None


def _union(values: pd.Series) -> object:
    parts = sorted({p for v in values.dropna() for p in str(v).split(",") if p})
    return ",".join(parts) if parts else None


def station_wqi_monthly(scored: pd.DataFrame) -> pd.DataFrame:
    """Per station and IST month: the WQI of the month's sample(s) (their mean, as MPCB reports one value a
    month), its band, the worst best-use class among the samples (a month meets a class only if every
    sample does), mean inputs, sample counts and what kept samples from having a WQI."""
    if scored.empty:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in MONTHLY_COLUMNS})
    frame = scored.copy()
    frame["month"] = month_start(frame["sample_ts"])
    groups = frame.groupby(["station_id", "month"], sort=True)
    out = groups.agg(
        samples=("wqi", "size"),
        samples_with_wqi=("wqi", "count"),
        wqi=("wqi", "mean"),
        wqi_min=("wqi", "min"),
        wqi_max=("wqi", "max"),
        do_mg_l=("do_mg_l", "mean"),
        bod_mg_l=("bod_mg_l", "mean"),
        ph=("ph", "mean"),
        fc_mpn_100ml=("fc_mpn_100ml", "mean"),
        tc_mpn_100ml=("tc_mpn_100ml", "mean"),
    )
    out["best_use_class"] = groups["best_use_class"].agg(_worst_class)
    without = frame[frame["wqi"].isna()]
    out["missing_parameters"] = (
        without.groupby(["station_id", "month"])["missing_parameters"].agg(_union).reindex(out.index)
    )
    out["censored_inputs"] = groups["censored_inputs"].agg(_union)
    out["sources"] = groups["source"].agg(lambda s: ",".join(sorted(set(s))))
    out = out.reset_index()
    bands = classify_wqi(out["wqi"])
    out["wqi_label"] = bands["wqi_label"].array
    out["wqi_class"] = bands["wqi_class"].array
    out["best_use_class"] = out["best_use_class"].astype("string")
    out["best_use"] = out["best_use_class"].map(BEST_USE).astype("string")
    for column in ("missing_parameters", "censored_inputs"):
        out[column] = out[column].astype("string")
    out["samples"] = out["samples"].astype("int64")
    out["samples_with_wqi"] = out["samples_with_wqi"].astype("int64")
    return out[MONTHLY_COLUMNS]


__all__ = [
    "LAB_READINGS_SQL",
    "LAB_SOURCES",
    "MONTHLY_COLUMNS",
    "SAMPLE_PARAMETERS",
    "SAMPLE_WQI_COLUMNS",
    "accepted_inputs",
    "lab_samples",
    "month_start",
    "sample_wqi",
    "station_wqi_monthly",
]
