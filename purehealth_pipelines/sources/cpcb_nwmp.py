"""CPCB NWMP yearly station tables -> raw.cpcb_nwmp rows (pure parsing; no I/O beyond the text given).

The published tables (cpcb.nic.in/nwmp-data-YYYY/, and the compilation in shared/data) have one row per
station per year with an annual Min and Max per parameter. Their dirt (docs/water_quality.md §5; seen in the
real file): leading spaces in header names, newlines inside quoted names and inside numbers ("16000\\n 0"),
tokens "BDL", "-", "_", "--", "nil", empty cells, a repeated header row, blank continuation rows, the same
station under several code spellings, and the same station-year published twice (2018 has two tables).

Rules (each rejection is a dead letter with its reason, so every record is either landed or explained):
- record without a numeric station code, or with an invalid year -> dead letter (whole record);
- second and later copies of a station-year -> dead letter (the first published copy wins);
- a record with no measured value at all -> dead letter;
- an unparseable cell ('.1.4', '1-586'), a value outside the physical range, or Min > Max -> dead letter of
  that cell (pair), the rest of the record lands;
- 'BDL'/'nil' -> value NULL, censored '<'; '<2' -> 2, '<'; '>1600' -> 1600, '>'; '-', '_', '--', '' -> not
  measured (no row).

Other real layouts CPCB publishes (besides the Min/Max compilation): single annual values or means with
headers like `D.O. (mg/l)`, `PH`, `B.O.D. (mg/l)`, `CONDUCTIVITY (µmhos/cm)`, `NITRATENAN N+ NITRITENANN
(mg/l)`, `TOTAL COLIFORM (MPN/100ml)Mean`, `Temp`, `LOCATIONS`, `year`, Latin-1 encoded; two-row headers (the
parameter row, then a `Min`/`Max` row under it); and `Bio-Chemical Oxygen Demand (mg/L)`. So:
- a parameter column with a Min/Max/Mean suffix lands with that statistic; without one it lands as
  statistic 'value' (one published value whose statistic the table does not state);
- a two-row header is folded into one (the parameter name carried over the cells merged under it);
- every column is either mapped or listed in `unmapped_columns` with the reason (run metadata, CLI summary);
- nitrate + nitrite as N is landed as nitrate_n_mg_l (nitrite is a small fraction in rivers);
- bytes are decoded by `common.decode_table_bytes` (UTF-8, else cp1252/Latin-1) by the callers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from purehealth_pipelines.sources.common import Cell, dead_letter_frame, ist_midnight, parse_cell
from purehealth_pipelines.sources.http import PublisherSchemaError

SOURCE = "cpcb_nwmp"
TABLE = "raw.cpcb_nwmp"

# Header (lower-cased, whitespace collapsed) prefix -> (canonical parameter, unit in ref.parameters).
PARAMETER_COLUMNS: dict[str, tuple[str, str]] = {
    "temperature": ("temp_c", "°C"),
    "temp": ("temp_c", "°C"),
    "dissolved oxygen": ("do_mg_l", "mg/L"),
    "do": ("do_mg_l", "mg/L"),  # 'D.O. (mg/l)' once dots are removed
    "ph": ("ph", "pH units"),
    "conductivity": ("ec_us_cm", "µS/cm"),  # µmho/cm == µS/cm
    "bod": ("bod_mg_l", "mg/L"),
    "bio-chemical oxygen demand": ("bod_mg_l", "mg/L"),
    "biochemical oxygen demand": ("bod_mg_l", "mg/L"),
    "cod": ("cod_mg_l", "mg/L"),
    "chemical oxygen demand": ("cod_mg_l", "mg/L"),
    "nitrate": ("nitrate_n_mg_l", "mg/L"),
    "nitratenan n+ nitritenann": ("nitrate_n_mg_l", "mg/L"),  # nitrate-N + nitrite-N, as CPCB spells it
    "fecal coliform": ("fc_mpn_100ml", "MPN/100 mL"),
    "faecal coliform": ("fc_mpn_100ml", "MPN/100 mL"),
    "total coliform": ("tc_mpn_100ml", "MPN/100 mL"),
    "fecal streptococci": ("fs_mpn_100ml", "MPN/100 mL"),
    "faecal streptococci": ("fs_mpn_100ml", "MPN/100 mL"),
}
# The canonical parameters of the NWMP tables, in the tables' column order.
PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(code for code, _unit in PARAMETER_COLUMNS.values()))
# Physically possible values (not QC thresholds: those are the quality domain's). Outside -> garbage.
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "temp_c": (0.0, 50.0),
    "do_mg_l": (0.0, 25.0),
    "ph": (0.0, 14.0),
    "ec_us_cm": (0.0, 100_000.0),  # sea water ~55,000; tidal creeks (Mithi) reach ~29,000
    "bod_mg_l": (0.0, 2_000.0),
    "cod_mg_l": (0.0, 20_000.0),
    "nitrate_n_mg_l": (0.0, 500.0),
    "fc_mpn_100ml": (0.0, 1e10),
    "tc_mpn_100ml": (0.0, 1e10),
    "fs_mpn_100ml": (0.0, 1e10),
}
RAW_COLUMNS = [
    "station_id",
    "parameter",
    "ts",
    "statistic",
    "value",
    "unit",
    "censored",
    "station_code",
    "year",
    "location",
    "raw_value",
    "source_file",
]


@dataclass
class NwmpParse:
    """Result of parsing one NWMP table: rows for raw.cpcb_nwmp, dead letters, and the record accounting."""

    rows: pd.DataFrame
    dead_letters: pd.DataFrame
    records_total: int = 0
    records_landed: int = 0
    records_rejected: int = 0
    records_out_of_scope: int = 0  # other states, when a state filter is given
    cells_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    unmapped_columns: dict[str, str] = field(default_factory=dict)  # column -> why it was not landed
    header_rows: int = 1


def _norm_header(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().lower()


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


STATISTIC = re.compile(r"(min|max|mean|avg|average)\.?$")
STATISTIC_WORDS = {"min": "min", "max": "max", "mean": "mean", "avg": "mean", "average": "mean"}
STRUCTURAL = {  # non-parameter columns the parser reads
    "code": ("station code", "stn code", "station_code", "station no", "stn no", "code"),
    "location": ("monitoring location", "name of monitoring location", "location", "locations"),
    "state": ("state", "state name"),
    "year": ("year",),
}


def _parameter_key(header: str) -> str:
    """'D.O. (mg/l)' -> 'do (mg/l)'; 'B.O.D.' -> 'bod'; whitespace collapsed, lower case."""
    return _norm_header(header).replace(".", "")


def map_columns(headers: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Published header -> (parameter, statistic, unit) for the parameter columns (see `classify_columns`)."""
    return classify_columns(headers)[0]


def classify_columns(headers: Iterable[str]) -> tuple[dict[str, tuple[str, str, str]], dict[str, str]]:
    """Split a table's headers into parameter columns -> (parameter, statistic, unit) and unmapped columns ->
    reason. A header without a Min/Max/Mean suffix is a single published value: statistic 'value'."""
    mapping: dict[str, tuple[str, str, str]] = {}
    unmapped: dict[str, str] = {}
    structural = {name for names in STRUCTURAL.values() for name in names}
    taken: dict[tuple[str, str], str] = {}
    for header in headers:
        norm = _norm_header(header)
        if norm in structural:
            continue
        key = _parameter_key(header)
        stat_match = STATISTIC.search(key)
        statistic = STATISTIC_WORDS[stat_match.group(1)] if stat_match else "value"
        found = None
        for prefix, (parameter, unit) in sorted(PARAMETER_COLUMNS.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(prefix) and not key[len(prefix) : len(prefix) + 1].isalnum():
                found = (parameter, statistic, unit)
                break
        if found is None:
            unmapped[header] = "not a known parameter" if norm else "column without a header"
        elif (found[0], found[1]) in taken:
            unmapped[header] = f"duplicate of column {taken[(found[0], found[1])]!r} ({found[0]} {found[1]})"
        else:
            taken[(found[0], found[1])] = header
            mapping[header] = found
    return mapping, unmapped


def fold_two_row_header(
    header: list[str], records: list[list[str]]
) -> tuple[list[str], list[list[str]], int]:
    """A parameter row over a Min/Max row -> one header ('pH' + 'Min' -> 'pH Min'); the parameter name is
    carried over the blank cells merged under it. Returns (header, records, header rows used)."""
    if not records:
        return header, records, 1
    second = [_norm_header(c).rstrip(".") for c in records[0]]
    stats = [c for c in second if c]
    if len(stats) < 2 or any(c not in STATISTIC_WORDS for c in stats):
        return header, records, 1
    folded, current = [], ""
    for i, name in enumerate(header):
        if name.strip():
            current = name
        stat = records[0][i].strip() if i < len(records[0]) else ""
        folded.append(f"{current.strip()} {stat}" if stat else (name or current))
    return folded, records[1:], 2


def _find(headers: list[str], *names: str) -> str | None:
    for header in headers:
        if _norm_header(header) in names:
            return header
    return None


def read_table(text: str) -> tuple[list[str], list[list[str]]]:
    """CSV text (quoted fields may hold newlines) -> header, records. No value interpretation here."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise PublisherSchemaError("NWMP table is empty (no header row)") from exc
    return header, list(reader)


def _payload(header: list[str], record: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    return buffer.getvalue()


def station_id_for(code: str) -> str | None:
    """'1153', ' 1153', '01153', '1153.0' -> 'NWMP-1153'; anything with letters -> None."""
    text = code.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text or not re.fullmatch(r"[0-9 \n]+", text):
        return None
    return f"NWMP-{int(re.sub(r'[^0-9]', '', text))}"


def parse_nwmp_table(
    text: str,
    *,
    source_file: str,
    states: Iterable[str] | None = ("MAHARASHTRA",),
    years: Iterable[int] | None = None,
) -> NwmpParse:
    """Parse one NWMP table (the real published CSV layout) into raw.cpcb_nwmp rows and dead letters.

    `states`: keep only these states (compared without spaces/newlines, so 'MADHYA\\n PRADESH' matches);
    None keeps every state. `years`: keep only these years (a yearly partition); others are out of scope.
    """
    header, records = read_table(text)
    header, records, header_rows = fold_two_row_header(header, records)
    columns, unmapped = classify_columns(header)
    code_col = _find(header, *STRUCTURAL["code"])
    year_col = _find(header, *STRUCTURAL["year"])
    location_col = _find(header, *STRUCTURAL["location"])
    state_col = _find(header, *STRUCTURAL["state"])
    if code_col is None or not columns:
        raise PublisherSchemaError(
            f"{source_file}: not an NWMP table: no 'Station Code' or no parameter columns in {header[:6]}"
        )
    index = {name: i for i, name in enumerate(header)}
    wanted_states = None if states is None else {_compact(s) for s in states}
    wanted_years = None if years is None else set(years)

    out: dict[str, list] = {c: [] for c in RAW_COLUMNS}
    dead: list[dict] = []
    result = NwmpParse(
        rows=pd.DataFrame(), dead_letters=pd.DataFrame(), unmapped_columns=unmapped, header_rows=header_rows
    )
    seen: dict[tuple[str, int], int] = {}
    cache: dict[str, Cell] = {}

    def reject(
        reason: str, payload: str, record_no: int, ts: pd.Timestamp | None, cell: bool = False
    ) -> None:
        dead.append(
            {
                "origin": f"{source_file}#record={record_no}",
                "payload": payload,
                "reason": reason,
                "partition_ts": ts,
                "details": {"record": record_no},
            }
        )
        key = reason.split(":")[0]
        result.rejected_by_reason[key] = result.rejected_by_reason.get(key, 0) + 1
        if cell:
            result.cells_rejected += 1

    for record_no, record in enumerate(records, start=1):
        result.records_total += 1
        if len(record) != len(header):
            payload = _payload(header, record)
            reject(
                f"wrong field count: {len(record)} fields, header has {len(header)}", payload, record_no, None
            )
            result.records_rejected += 1
            continue

        def get(col: str | None, record: list[str] = record) -> str:
            return record[index[col]] if col is not None else ""

        state = get(state_col)
        if wanted_states is not None and _compact(state) and _compact(state) not in wanted_states:
            result.records_out_of_scope += 1
            continue
        year_text = re.sub(r"\s+", "", get(year_col))
        year = int(year_text) if re.fullmatch(r"(19|20)\d\d", year_text) else None
        if wanted_years is not None and year is not None and year not in wanted_years:
            result.records_out_of_scope += 1
            continue
        payload = _payload(header, record)
        if wanted_states is not None and not _compact(state):
            # A blank continuation row (no state) cannot be placed; with no code either it is plain debris.
            reject("missing state: record cannot be attributed", payload, record_no, _year_ts(year))
            result.records_rejected += 1
            continue
        code = get(code_col).strip()
        station_id = station_id_for(code)
        if station_id is None:
            why = "missing station code" if not code else f"station code is not numeric: {code[:40]!r}"
            reject(why, payload, record_no, _year_ts(year))
            result.records_rejected += 1
            continue
        if year is None:
            reject(f"invalid year: {get(year_col)[:20]!r}", payload, record_no, None)
            result.records_rejected += 1
            continue
        ts = ist_midnight(year)
        if (station_id, year) in seen:
            reject(
                f"duplicate station-year: {station_id} {year} already given by record "
                f"{seen[(station_id, year)]}",
                payload,
                record_no,
                ts,
            )
            result.records_rejected += 1
            continue
        seen[(station_id, year)] = record_no

        parsed: dict[tuple[str, str], tuple[Cell, str, str]] = {}
        for column, (parameter, statistic, unit) in columns.items():
            raw = record[index[column]]
            cell = cache.get(raw)
            if cell is None:
                cell = cache[raw] = parse_cell(raw)
            if cell.status == "missing":
                continue
            if cell.status == "bad":
                reject(
                    f"unparseable value: {parameter} {statistic} {raw!r}", payload, record_no, ts, cell=True
                )
                continue
            low, high = PHYSICAL_RANGE[parameter]
            if cell.value is not None and not low <= cell.value <= high:
                reject(
                    f"outside physical range: {parameter} {statistic} {cell.value} not in [{low}, {high}]",
                    payload,
                    record_no,
                    ts,
                    cell=True,
                )
                continue
            parsed[(parameter, statistic)] = (cell, unit, raw)
        for parameter in {p for p, _ in parsed}:
            low_cell, high_cell = parsed.get((parameter, "min")), parsed.get((parameter, "max"))
            if (
                low_cell
                and high_cell
                and low_cell[0].censored is None
                and high_cell[0].censored is None
                and low_cell[0].value is not None
                and high_cell[0].value is not None
                and low_cell[0].value > high_cell[0].value
            ):
                reject(
                    f"min greater than max: {parameter} {low_cell[0].value} > {high_cell[0].value}",
                    payload,
                    record_no,
                    ts,
                    cell=True,
                )
                del parsed[(parameter, "min")], parsed[(parameter, "max")]
        if not parsed:
            reject("no measured value in the record", payload, record_no, ts)
            result.records_rejected += 1
            continue
        location = re.sub(r"\s+", " ", get(location_col)).strip() or None
        for (parameter, statistic), (cell, unit, raw) in parsed.items():
            out["station_id"].append(station_id)
            out["parameter"].append(parameter)
            out["ts"].append(ts)
            out["statistic"].append(statistic)
            out["value"].append(cell.value)
            out["unit"].append(unit)
            out["censored"].append(cell.censored)
            out["station_code"].append(code)
            out["year"].append(year)
            out["location"].append(location)
            out["raw_value"].append(raw.strip())
            out["source_file"].append(source_file)
        result.records_landed += 1

    rows = pd.DataFrame(out, columns=RAW_COLUMNS)
    rows["value"] = rows["value"].astype("float64")
    rows["year"] = rows["year"].astype("int64")
    if not rows.empty:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
    result.rows = rows
    result.dead_letters = dead_letter_frame(SOURCE, dead)
    return result


def _year_ts(year: int | None) -> pd.Timestamp | None:
    return ist_midnight(year) if year is not None else None
