"""Shared pieces of the source parsers: censored-value parsing, dead-letter frames, IST time helpers.

Pure functions only (no Dagster, no SQL): the assets and the CLI call them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from purehealth_pipelines.vocabulary import TIMEZONE

IST = TIMEZONE  # pandas takes the zone by name

# Cells that mean "not measured" in CPCB/MPCB tables (docs/water_quality.md §5).
MISSING_TOKENS = frozenset({"", "-", "_", "--", "---", "NA", "N/A", "NR", "NS", "N.A.", "NOT SAMPLED"})
# Cells that mean "below detection limit" with no limit given: value unknown, censored '<'.
BELOW_DETECTION_TOKENS = frozenset({"BDL", "BLD", "ND", "NIL", "NOT DETECTED"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_CENSORED = re.compile(r"^([<>])=?(.*)$")
_WHITESPACE = re.compile(r"\s+")

DEAD_LETTER_COLUMNS = ["source", "origin", "payload", "reason", "details"]


@dataclass(frozen=True)
class Cell:
    """One parsed table cell. status: 'ok' (value or censored), 'missing' (not measured), 'bad' (garbage)."""

    value: float | None
    censored: str | None
    status: str


def parse_cell(raw: object) -> Cell:
    """Parse a published lab value: '7.2', 'BDL', '<2', '>1600', '16000\\n 0' (a wrapped number).

    Internal whitespace is removed first: the NWMP compilation splits long numbers over lines inside quotes
    ("16000\\n 0" is 160000), so digits separated by whitespace are one number.
    """
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return Cell(None, None, "missing")
    text = _WHITESPACE.sub("", str(raw))
    upper = text.upper()
    if upper in MISSING_TOKENS or _WHITESPACE.sub(" ", str(raw)).strip().upper() in MISSING_TOKENS:
        return Cell(None, None, "missing")
    if upper in BELOW_DETECTION_TOKENS:
        return Cell(None, "<", "ok")
    match = _CENSORED.match(text)
    if match:
        number = match.group(2)
        if _NUMBER.match(number):
            return Cell(float(number), match.group(1), "ok")
        return Cell(None, None, "bad")
    if _NUMBER.match(text):
        return Cell(float(text), None, "ok")
    return Cell(None, None, "bad")


def dead_letter_frame(
    source: str, entries: list[dict[str, Any]], partition_ts: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Rows for ops.dead_letters. Each entry: origin, payload, reason, and optionally partition_ts/details.

    `details.partition_ts` (UTC ISO text) ties a dead letter to a partition, so a re-run of the partition
    replaces its dead letters instead of appending the same ones again (see sources.commit).
    """
    rows = []
    for entry in entries:
        ts = entry.get("partition_ts", partition_ts)
        details = dict(entry.get("details") or {})
        if ts is not None:
            details["partition_ts"] = utc_text(ts)
        rows.append(
            {
                "source": source,
                "origin": entry.get("origin"),
                "payload": entry.get("payload"),
                "reason": entry["reason"],
                "details": json.dumps(details, default=str, ensure_ascii=False),
            }
        )
    return pd.DataFrame(rows, columns=DEAD_LETTER_COLUMNS)


def utc_text(ts: object) -> str:
    """A timestamp as fixed-format UTC text: comparable as text in SQL (same width, same zone)."""
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(IST)
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")


def ist_midnight(year: int, month: int = 1, day: int = 1) -> pd.Timestamp:
    return pd.Timestamp(year=year, month=month, day=day, tz=IST)


def station_slug(name: str) -> str:
    """'Samdoli (Seasonal)' -> 'SAMDOLI-SEASONAL', the CWC station id suffix used by ref.stations."""
    return re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")


def decode_table_bytes(data: bytes) -> tuple[str, str]:
    """Bytes of a published table -> (text, encoding used).

    CPCB's compilations are UTF-8, but other NWMP tables are Latin-1 ('µmhos/cm' as byte 0xB5), which a UTF-8
    reader rejects or garbles. UTF-8 is tried first (valid UTF-8 is almost never accidental for non-ASCII
    text), then Windows-1252 (Latin-1 plus the curly quotes and dashes Excel writes), then Latin-1, which
    decodes any byte.
    """
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover
