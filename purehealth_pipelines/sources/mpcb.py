"""MPCB monthly station tables (financial year Apr..Mar) -> raw.mpcb_monthly rows.

MPCB publishes, per financial year, a table per station and parameter: station code, name, regional office,
frequency, then one column per month Apr..Mar and the average (docs/water_quality.md §5; there is no public
real-time API). The published tables are PDF annexes of the annual "Water Quality Status of Maharashtra"
report; no public CSV is known, so an operator exports a year's annex to CSV and feeds it with
`purehealth ingest mpcb --fy 2023 FILE` (title lines above the header are common). MPCB station codes are the
NWMP codes, so station_id = 'NWMP-<code>'.

MPCB's monthly monitoring covers far more than pH/BOD/DO/TC: fecal coliform (one of the four parameters of
the WQI MPCB itself computes), COD, nitrate, conductivity, temperature, TDS, turbidity. Every parameter that
ref.parameters knows is accepted (`PARAMETERS`); an unknown one is dead-lettered with its label. The unit is
read where the table states one, in the label ("Fecal Coliform (MPN/100ml)") or in a Unit column, because
editions differ (FC units changed between report editions); a unit we cannot convert is dead-lettered, never
assumed. Coliform values stop at the top of the MPN table (1600/1800): they are stored censored '>' (§4).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pandas as pd

from purehealth_pipelines.sources.common import dead_letter_frame, ist_midnight, parse_cell
from purehealth_pipelines.sources.cpcb_nwmp import station_id_for
from purehealth_pipelines.sources.http import PublisherSchemaError

SOURCE = "mpcb"
TABLE = "raw.mpcb_monthly"
MONTHS = ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar"]
PARAMETERS = {  # published label prefix (lower case) -> (parameter, canonical unit, physical range)
    "ph": ("ph", "pH units", (0.0, 14.0)),
    "bod": ("bod_mg_l", "mg/L", (0.0, 2000.0)),
    "b.o.d.": ("bod_mg_l", "mg/L", (0.0, 2000.0)),
    "bio-chemical oxygen demand": ("bod_mg_l", "mg/L", (0.0, 2000.0)),
    "biochemical oxygen demand": ("bod_mg_l", "mg/L", (0.0, 2000.0)),
    "do": ("do_mg_l", "mg/L", (0.0, 25.0)),
    "d.o.": ("do_mg_l", "mg/L", (0.0, 25.0)),
    "dissolved oxygen": ("do_mg_l", "mg/L", (0.0, 25.0)),
    "total coliform": ("tc_mpn_100ml", "MPN/100 mL", (0.0, 1e10)),
    "tc": ("tc_mpn_100ml", "MPN/100 mL", (0.0, 1e10)),
    "fecal coliform": ("fc_mpn_100ml", "MPN/100 mL", (0.0, 1e10)),
    "faecal coliform": ("fc_mpn_100ml", "MPN/100 mL", (0.0, 1e10)),
    "fc": ("fc_mpn_100ml", "MPN/100 mL", (0.0, 1e10)),
    "cod": ("cod_mg_l", "mg/L", (0.0, 20_000.0)),
    "c.o.d.": ("cod_mg_l", "mg/L", (0.0, 20_000.0)),
    "chemical oxygen demand": ("cod_mg_l", "mg/L", (0.0, 20_000.0)),
    "nitrate": ("nitrate_n_mg_l", "mg/L", (0.0, 500.0)),
    "no3-n": ("nitrate_n_mg_l", "mg/L", (0.0, 500.0)),
    "conductivity": ("ec_us_cm", "µS/cm", (0.0, 100_000.0)),
    "electrical conductivity": ("ec_us_cm", "µS/cm", (0.0, 100_000.0)),
    "ec": ("ec_us_cm", "µS/cm", (0.0, 100_000.0)),
    "temperature": ("temp_c", "°C", (0.0, 50.0)),
    "water temperature": ("temp_c", "°C", (0.0, 50.0)),
    "temp": ("temp_c", "°C", (0.0, 50.0)),
    "total dissolved solids": ("tds_mg_l", "mg/L", (0.0, 100_000.0)),
    "tds": ("tds_mg_l", "mg/L", (0.0, 100_000.0)),
    "turbidity": ("turbidity_ntu", "NTU", (0.0, 10_000.0)),
}
# Stated unit (lower case, spaces removed) -> factor to the parameter's canonical unit. Absent = unknown.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "mg/L": {"mg/l": 1.0, "mg/lit": 1.0, "mg/litre": 1.0, "ppm": 1.0},
    "MPN/100 mL": {"mpn/100ml": 1.0, "no./100ml": 1.0, "no/100ml": 1.0, "mpn/100mlit": 1.0},
    "µS/cm": {
        "µs/cm": 1.0,
        "μs/cm": 1.0,
        "us/cm": 1.0,
        "µmho/cm": 1.0,
        "µmhos/cm": 1.0,
        "μmhos/cm": 1.0,
        "umho/cm": 1.0,
        "umhos/cm": 1.0,
        "ms/cm": 1000.0,
    },
    "°C": {"°c": 1.0, "degc": 1.0, "deg.c": 1.0, "c": 1.0, "oc": 1.0, "0c": 1.0},
    "NTU": {"ntu": 1.0},
    "pH units": {"": 1.0, "phunits": 1.0, "-": 1.0},
}
COLIFORMS = ("tc_mpn_100ml", "fc_mpn_100ml")
MPN_TABLE_TOP = (1600.0, 1800.0)  # "stop at 1600/1800 MPN": above the table's range
COLUMNS = [
    "station_id",
    "parameter",
    "ts",
    "value",
    "unit",
    "censored",
    "station_code",
    "regional_office",
    "frequency",
    "raw_value",
]


def financial_year_label(start_year: int) -> str:
    """2023 -> '2023-24' (MPCB's reports run April to March)."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def financial_year_of(ts: pd.Timestamp) -> int:
    return ts.year if ts.month >= 4 else ts.year - 1


def _parameter(label: str) -> tuple[str, str, tuple[float, float]] | None:
    text = re.sub(r"\s+", " ", label).strip().lower()
    # The longest matching prefix wins ('total dissolved solids' before 'tds', 'd.o.' before 'do').
    for prefix, spec in sorted(PARAMETERS.items(), key=lambda kv: -len(kv[0])):
        if text.startswith(prefix) and not text[len(prefix) : len(prefix) + 1].isalnum():
            return spec  # 'nitrate-n (mg/l)', 'do (mg/l)', 'fc' — but not 'dolomite'
    return None


def stated_unit(label: str, unit_cell: str | None = None) -> str | None:
    """The unit a table states for a row: a Unit column's cell, else the last parenthesis of the label."""
    if unit_cell is not None and unit_cell.strip():
        return unit_cell.strip()
    found = re.findall(r"\(([^()]*)\)", label)
    return found[-1].strip() if found else None


def unit_factor(canonical: str, stated: str | None) -> float | None:
    """Factor from the stated unit to the canonical one; 1 when none is stated, None when unknown."""
    if stated is None:
        return 1.0
    key = re.sub(r"\s+", "", stated).lower()
    return UNIT_FACTORS.get(canonical, {}).get(key)


def parse_mpcb_table(
    text: str, *, fy_start_year: int, origin: str, window_start: pd.Timestamp, window_end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One financial year's table -> (rows for the months inside the window, dead letters)."""
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header_at = next(
        (i for i, row in enumerate(lines) if row and any(c.strip().lower() == "station code" for c in row)),
        None,
    )
    if header_at is None:
        raise PublisherSchemaError(f"{origin}: no 'Station Code' header row: not an MPCB monthly table")
    header = [re.sub(r"\s+", " ", c).strip().lower() for c in lines[header_at]]
    need = ["station code", "parameter", *[m.lower() for m in MONTHS]]
    missing = [n for n in need if n not in header]
    if missing:
        raise PublisherSchemaError(f"{origin}: MPCB table lacks columns {missing}")
    col = {name: header.index(name) for name in header}
    month_ts = {
        m: ist_midnight(fy_start_year + (1 if i >= 9 else 0), 1 + (i + 3) % 12) for i, m in enumerate(MONTHS)
    }
    wanted = [m for m in MONTHS if window_start <= month_ts[m] < window_end]
    out: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    for line_no, row in enumerate(lines[header_at + 1 :], start=header_at + 2):
        if not any(c.strip() for c in row):
            continue
        payload = ",".join(row)[:2000]
        if len(row) < len(header):
            dead.append(
                {
                    "origin": f"{origin}#line={line_no}",
                    "payload": payload,
                    "partition_ts": window_start,
                    "reason": f"wrong field count: {len(row)}, header has {len(header)}",
                }
            )
            continue
        code = row[col["station code"]].strip()
        station_id = station_id_for(code)
        spec = _parameter(row[col["parameter"]])
        if station_id is None or spec is None:
            why = (
                f"station code is not numeric: {code!r}"
                if station_id is None
                else (f"unknown parameter {row[col['parameter']]!r}")
            )
            dead.append(
                {
                    "origin": f"{origin}#line={line_no}",
                    "payload": payload,
                    "reason": why,
                    "partition_ts": window_start,
                }
            )
            continue
        parameter, unit, (low, high) = spec
        label = row[col["parameter"]]
        unit_text = stated_unit(label, _text(row, col.get("unit") if "unit" in col else col.get("units")))
        factor = unit_factor(unit, unit_text)
        if factor is None:
            dead.append(
                {
                    "origin": f"{origin}#line={line_no}",
                    "payload": payload,
                    "reason": f"unknown unit: {parameter} stated in {unit_text!r} (expected {unit})",
                    "partition_ts": window_start,
                }
            )
            continue
        for month in wanted:
            raw = row[col[month.lower()]]
            cell = parse_cell(raw)
            if cell.status == "missing":
                continue
            ts = month_ts[month]
            problem = None
            if cell.status == "bad":
                problem = f"unparseable value: {parameter} {month} {raw!r}"
            elif cell.value is not None and not low <= cell.value * factor <= high:
                value = cell.value * factor
                problem = f"outside physical range: {parameter} {month} {value} not in [{low}, {high}]"
            if problem:
                dead.append(
                    {
                        "origin": f"{origin}#line={line_no}",
                        "payload": payload,
                        "reason": problem,
                        "partition_ts": ts,
                    }
                )
                continue
            censored = cell.censored
            if parameter in COLIFORMS and censored is None and cell.value in MPN_TABLE_TOP:
                censored = ">"
            out.append(
                {
                    "station_id": station_id,
                    "parameter": parameter,
                    "ts": ts.tz_convert("UTC"),
                    "value": None if cell.value is None else cell.value * factor,
                    "unit": unit,
                    "censored": censored,
                    "station_code": code,
                    "regional_office": _text(row, col.get("regional office")),
                    "frequency": _text(row, col.get("frequency")),
                    "raw_value": raw.strip(),
                }
            )
    rows = pd.DataFrame(out, columns=COLUMNS)
    rows["value"] = rows["value"].astype("float64")
    if not rows.empty:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
        dup = rows.duplicated(["station_id", "parameter", "ts"], keep="first")
        for _, r in rows[dup].iterrows():
            dead.append(
                {
                    "origin": origin,
                    "payload": f"{r.station_code},{r.parameter},{r.raw_value}",
                    "partition_ts": r.ts,
                    "reason": "duplicate station-parameter-month (first kept)",
                }
            )
        rows = rows[~dup].reset_index(drop=True)
    return rows, dead_letter_frame(SOURCE, dead)


def _text(row: list[str], index: int | None) -> str | None:
    if index is None:
        return None
    value = re.sub(r"\s+", " ", row[index]).strip()
    return value or None
