"""The one way to read many rows back from the warehouse into pandas, with the server's own column types.

Why not `pd.read_csv` on COPY text alone: PostgreSQL prints a timestamptz without a fraction when it has none
(`2026-12-02 05:45:00+00`) and with one otherwise (`…05:57:39.531+00`), and pandas 3 infers ONE format from
the first row, so a column that mixes the two fails as soon as row order changes (it did, on every live tick
of `mart/alerts`, and on TimescaleDB Community in `make demo`). Re-parsing text is the wrong layer to fix it.

Here the query is described first (a `LIMIT 0` execution gives each column's type OID), then wrapped so the
server sends times as integers — microseconds since the Unix epoch for timestamps, days for dates — which
become datetime64 without any text parsing. Text columns stay text (a station code '1153' is not an
integer), booleans become booleans, numbers numbers. COPY stays the transport: it is several times faster
than fetching tuples through the cursor for the 100 k-row windows the pipeline reads.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

# PostgreSQL type OIDs (pg_type.oid; stable across versions).
TIMESTAMPTZ_OID = 1184
TIMESTAMP_OID = 1114
DATE_OID = 1082
BOOL_OID = 16
INTEGER_OIDS = frozenset({20, 21, 23})  # bigint, smallint, integer
FLOAT_OIDS = frozenset({700, 701, 1700})  # real, double precision, numeric

Params = Sequence[Any] | Mapping[str, Any] | None
Query = str | sql.Composable


def describe(conn: psycopg.Connection, query: Query, params: Params = None) -> list[tuple[str, int]]:
    """(name, type OID) of each column the query returns, without fetching its rows."""
    # A client-side-binding cursor binds parameters exactly as COPY below does (COPY takes no server params).
    with psycopg.ClientCursor(conn) as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS described LIMIT 0").format(_composable(query)), params)
        return [(column.name, column.type_code) for column in cur.description or []]


def read_frame(conn: psycopg.Connection, query: Query, params: Params = None) -> pd.DataFrame:
    """Run a SELECT and return it as a DataFrame typed from the server's column types.

    timestamptz -> datetime64[us, UTC]; timestamp -> datetime64[us]; date -> datetime64 (midnight);
    text-like -> str; integers -> Int64 when NULLs occur; booleans -> boolean; numeric -> float64.
    """
    columns = describe(conn, query, params)
    selected = sql.SQL(", ").join(_select_expression(name, oid) for name, oid in columns)
    wrapped = sql.SQL("SELECT {} FROM ({}) AS q").format(selected, _composable(query))
    buffer = io.BytesIO()
    with conn.cursor() as cur:
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(wrapped)
        with cur.copy(statement, params) as copy:
            for block in copy:
                buffer.write(block)
    names = [name for name, _ in columns]
    if buffer.getbuffer().nbytes == 0:
        return pd.DataFrame({name: pd.Series(dtype=_empty_dtype(oid)) for name, oid in columns})
    buffer.seek(0)
    dtypes = {name: _csv_dtype(oid) for name, oid in columns}
    frame = pd.read_csv(buffer, header=None, names=names, keep_default_na=False, na_values=[""], dtype=dtypes)
    for name, oid in columns:
        frame[name] = _convert(frame[name], oid)
    return frame


def _composable(query: Query) -> sql.Composable:
    return query if isinstance(query, sql.Composable) else sql.SQL(query)  # type: ignore[arg-type]


def _select_expression(name: str, oid: int) -> sql.Composable:
    column = sql.Identifier(name)
    if oid in (TIMESTAMPTZ_OID, TIMESTAMP_OID):
        # Exact: epoch as numeric (PostgreSQL ≥ 14) times 10^6 fits a bigint for any timestamp.
        return sql.SQL("(extract(epoch FROM {c}) * 1000000)::bigint AS {c}").format(c=column)
    if oid == DATE_OID:
        return sql.SQL("({c} - DATE '1970-01-01') AS {c}").format(c=column)
    return column


def _csv_dtype(oid: int) -> str:
    if oid in (TIMESTAMPTZ_OID, TIMESTAMP_OID, DATE_OID) or oid in INTEGER_OIDS:
        return "Int64"
    if oid in FLOAT_OIDS:
        return "float64"
    return "str"


def _empty_dtype(oid: int) -> str:
    if oid == TIMESTAMPTZ_OID:
        return "datetime64[us, UTC]"
    if oid in (TIMESTAMP_OID, DATE_OID):
        return "datetime64[us]"
    if oid == BOOL_OID:
        return "boolean"
    return _csv_dtype(oid)


def _convert(series: pd.Series, oid: int) -> pd.Series:
    if oid == TIMESTAMPTZ_OID:
        return pd.to_datetime(series.astype("float64"), unit="us", utc=True).dt.as_unit("us")
    if oid == TIMESTAMP_OID:
        return pd.to_datetime(series.astype("float64"), unit="us").dt.as_unit("us")
    if oid == DATE_OID:
        return pd.to_datetime(series.astype("float64"), unit="D").dt.as_unit("us")
    if oid == BOOL_OID:
        return series.map({"t": True, "f": False}).astype("boolean")
    if oid in INTEGER_OIDS and not series.isna().any():
        return series.astype("int64")
    return series


__all__ = ["describe", "read_frame"]
