"""Unify the raw sources into the canonical reading (docs/contracts.md §5): codes, units, sources, censoring.

Pure functions: they take the rows read from the raw tables (already long: station_id, parameter, ts,
value, unit, censored) and return canonical rows plus the rows that cannot be made canonical, with the
reason (those go to ops.dead_letters, never silently dropped).

Decisions:
* **Source names** in core.readings: `iot` (raw.sensor_readings), `mpcb`, `cwc`, `imd`, the satellite
  platform (`sentinel2`, `landsat8`, `landsat9`), and for CPCB NWMP `cpcb_nwmp_min` / `cpcb_nwmp_max`
  (/ `cpcb_nwmp_mean`). NWMP tables publish one annual minimum and maximum per station and parameter, not
  observations at an instant; they enter core.readings stamped 1 January (IST) of the year, scored with
  syntax and gross range only, and are kept OUT of core.readings_preferred and every rollup/WQI (a min
  and a max at the same timestamp are not two samples). core.nwmp_annual shows them side by side.
* **Units**: each parameter has one canonical unit (ref.parameters); a source that reports another known
  unit is converted (°F → °C, mS/cm → µS/cm, cm → m, …); spelling variants (mg/l, µmho/cm, cumecs) are
  normalised. An unknown unit or parameter code is a dead letter, not a guess.
* **Censored** lab values keep their marker ('<' below detection, '>' above range) and their bound as the
  value (converted like any other value); a censored row without a bound keeps value NULL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purehealth_pipelines.vocabulary import CANONICAL_UNITS

# For each canonical unit: accepted spellings of source units (normalised: lower case, no spaces, 'u' for
# micro) -> (scale, offset) so that canonical = value * scale + offset.
_IDENTITY = (1.0, 0.0)
UNIT_CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "°C": {
        "°c": _IDENTITY,
        "degc": _IDENTITY,
        "c": _IDENTITY,
        "celsius": _IDENTITY,
        "deg.c": _IDENTITY,
        "°f": (5 / 9, -32 * 5 / 9),
        "degf": (5 / 9, -32 * 5 / 9),
        "f": (5 / 9, -32 * 5 / 9),
        "k": (1.0, -273.15),
    },
    "mg/L": {
        "mg/l": _IDENTITY,
        "mgl": _IDENTITY,
        "ppm": _IDENTITY,
        "mg/litre": _IDENTITY,
        "ug/l": (0.001, 0.0),
        "g/l": (1000.0, 0.0),
    },
    "%": {"%": _IDENTITY, "percent": _IDENTITY, "pct": _IDENTITY, "%sat": _IDENTITY},
    "pH units": {"phunits": _IDENTITY, "ph": _IDENTITY, "": _IDENTITY, "-": _IDENTITY, "1": _IDENTITY},
    "µS/cm": {
        "us/cm": _IDENTITY,
        "umho/cm": _IDENTITY,
        "umhos/cm": _IDENTITY,
        "micromho/cm": _IDENTITY,
        "micromhos/cm": _IDENTITY,
        "ms/cm": (1000.0, 0.0),
        "ms/m": (10.0, 0.0),
        "s/m": (10000.0, 0.0),
    },
    "MPN/100 mL": {"mpn/100ml": _IDENTITY, "mpn": _IDENTITY, "mpn/100cc": _IDENTITY},
    "NTU": {"ntu": _IDENTITY, "fnu": _IDENTITY},  # formazin units: FNU ≈ NTU for field sondes (ISO 7027)
    "m": {"m": _IDENTITY, "metre": _IDENTITY, "meter": _IDENTITY, "cm": (0.01, 0.0), "mm": (0.001, 0.0)},
    "m³/s": {
        "m3/s": _IDENTITY,
        "m³/s": _IDENTITY,
        "cumec": _IDENTITY,
        "cumecs": _IDENTITY,
        "l/s": (0.001, 0.0),
        "cusec": (0.0283168, 0.0),
        "cusecs": (0.0283168, 0.0),
    },
    "mm": {"mm": _IDENTITY, "cm": (10.0, 0.0)},
    "1": {
        "1": _IDENTITY,
        "": _IDENTITY,
        "-": _IDENTITY,
        "unitless": _IDENTITY,
        "index": _IDENTITY,
        "dimensionless": _IDENTITY,
        "ratio": _IDENTITY,
    },
    "mg/m³": {"mg/m3": _IDENTITY, "mg/m³": _IDENTITY, "ug/l": _IDENTITY},  # 1 µg/L = 1 mg/m³
}

CANONICAL_COLUMNS: tuple[str, ...] = (
    "station_id",
    "parameter",
    "ts",
    "source",
    "value",
    "unit",
    "censored",
    "pixel_count",
)


def normalise_unit(unit: object) -> str:
    """Spelling-insensitive unit key: lower case, no spaces, Greek mu / micro sign -> 'u'."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)) or unit is pd.NA:
        return ""
    text = str(unit).strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u")
    return text.replace("³", "3") if text not in ("m³/s", "mg/m³") else text


def _conversion_for(parameter: str, unit: object) -> tuple[float, float] | None:
    canonical = CANONICAL_UNITS.get(parameter)
    if canonical is None:
        return None
    if unit is not None and str(unit) == canonical:
        return _IDENTITY
    table = UNIT_CONVERSIONS.get(canonical, {})
    key = normalise_unit(unit)
    return table.get(key) or table.get(key.replace("3", "³"))


def canonicalise(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw long rows (with a `source` column) -> (canonical rows, rejected rows with `reason`).

    Vectorised over the distinct (parameter, unit) pairs, which are few.
    """
    if raw.empty:
        return _empty_canonical(), raw.assign(reason=pd.Series([], dtype="str"))
    frame = raw.copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    if "censored" not in frame.columns:
        frame["censored"] = None
    if "pixel_count" not in frame.columns:
        frame["pixel_count"] = np.nan
    unit_key = frame["unit"].astype(object).where(frame["unit"].notna(), "\x00")
    pairs = pd.DataFrame({"parameter": frame["parameter"], "unit_key": unit_key}).drop_duplicates()
    factors = [_conversion_for(p, None if u == "\x00" else u) for p, u in pairs.itertuples(index=False)]
    pairs["scale"] = [f[0] if f else np.nan for f in factors]
    pairs["offset"] = [f[1] if f else np.nan for f in factors]
    looked_up = pd.DataFrame({"parameter": frame["parameter"], "unit_key": unit_key}).merge(
        pairs, on=["parameter", "unit_key"], how="left"
    )
    scale = looked_up["scale"].to_numpy()
    offset = looked_up["offset"].to_numpy()
    unknown_parameter = ~frame["parameter"].isin(CANONICAL_UNITS.keys()).to_numpy()
    unknown_unit = np.isnan(scale) & ~unknown_parameter
    rejected = frame[unknown_parameter | unknown_unit].copy()
    rejected["reason"] = np.where(
        unknown_parameter[unknown_parameter | unknown_unit],
        "unknown parameter code",
        "unit cannot be converted to canonical",
    )
    keep = ~(unknown_parameter | unknown_unit)
    good = frame[keep].copy()
    good["value"] = good["value"].to_numpy() * scale[keep] + offset[keep]
    good["unit"] = good["parameter"].map(CANONICAL_UNITS).astype("str")
    good["censored"] = good["censored"].where(good["censored"].isin(["<", ">"]), None)
    return good[list(CANONICAL_COLUMNS)].reset_index(drop=True), rejected.reset_index(drop=True)


def _empty_canonical() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": pd.Series([], dtype="str"),
            "parameter": pd.Series([], dtype="str"),
            "ts": pd.Series([], dtype="datetime64[us, UTC]"),
            "source": pd.Series([], dtype="str"),
            "value": pd.Series([], dtype=float),
            "unit": pd.Series([], dtype="str"),
            "censored": pd.Series([], dtype=object),
            "pixel_count": pd.Series([], dtype=float),
        }
    )


# One SELECT per raw table, each returning the canonical columns (before unit conversion). The NWMP
# statistic becomes part of the source name (see module docstring). Bound parameters: window start/end.
RAW_SOURCE_QUERIES: dict[str, str] = {
    # Two sensors of one station may report the same parameter at the same instant (each message is kept,
    # raw.sensor_messages); the canonical reading is one per station, parameter and ts: the first landed.
    "raw.sensor_readings": (
        "SELECT DISTINCT ON (station_id, parameter, ts) station_id, parameter, ts, 'iot' AS source, value,"
        " unit, NULL::text AS censored, NULL::int AS pixel_count FROM raw.sensor_readings"
        " WHERE ts >= %(start)s AND ts < %(end)s ORDER BY station_id, parameter, ts, ingested_at, sensor_id"
    ),
    "raw.cpcb_nwmp": (
        "SELECT station_id, parameter, ts, 'cpcb_nwmp_' || statistic AS source, value, unit, censored,"
        " NULL::int AS pixel_count FROM raw.cpcb_nwmp WHERE ts >= %(start)s AND ts < %(end)s"
    ),
    "raw.mpcb_monthly": (
        "SELECT station_id, parameter, ts, 'mpcb' AS source, value, unit, censored, NULL::int AS pixel_count"
        " FROM raw.mpcb_monthly WHERE ts >= %(start)s AND ts < %(end)s"
    ),
    "raw.cwc_river_levels": (
        "SELECT station_id, parameter, ts, 'cwc' AS source, value, unit, censored, NULL::int AS pixel_count"
        " FROM raw.cwc_river_levels WHERE ts >= %(start)s AND ts < %(end)s"
    ),
    "raw.imd_rainfall": (
        "SELECT station_id, parameter, ts, 'imd' AS source, value, unit, censored, NULL::int AS pixel_count"
        " FROM raw.imd_rainfall WHERE ts >= %(start)s AND ts < %(end)s"
    ),
    "raw.satellite_indices": (
        "SELECT station_id, parameter, ts, platform AS source, value, unit, censored, pixel_count"
        " FROM raw.satellite_indices WHERE ts >= %(start)s AND ts < %(end)s"
    ),
}
