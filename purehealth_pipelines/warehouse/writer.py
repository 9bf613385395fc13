"""The partition writer: replace one partition's time window of a table in a single transaction.

Why this shape (docs/contracts.md §5): a Dagster partition is a time window; re-running or backfilling it must
replace what was there, never duplicate it, and a failure half-way must leave the previous rows untouched.
So each write is one transaction: lock the window, delete it, bulk-load the new rows with COPY (the fastest
path into a hypertable), commit. Any error rolls the whole thing back. On TimescaleDB Community a window
older than the compression horizon lies in compressed chunks: the write makes them writable in the same
transaction first (see warehouse.compression; nothing happens on the Apache edition). Identifiers are
quoted with `psycopg.sql` and values are bound parameters: nothing is built from partition keys by string
formatting.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from purehealth_pipelines.warehouse import binary_copy
from purehealth_pipelines.warehouse.compression import DEFAULT_STRATEGY, Strategy, prepare_rewrite

COPY_CHUNK_ROWS = 50_000  # serialise and send in chunks so the server ingests while Python formats the next


@dataclass(frozen=True)
class PartitionWrite:
    """What one partition write did, for logs and Dagster metadata."""

    table: str
    window_start: datetime
    window_end: datetime
    rows_deleted: int
    rows_written: int
    seconds: float
    compressed_chunks: int = 0  # compressed chunks the window overlapped (TimescaleDB Community only)

    def as_metadata(self) -> dict[str, Any]:
        rate = self.rows_written / self.seconds if self.seconds > 0 else 0.0
        extra = {"compressed_chunks_rewritten": self.compressed_chunks} if self.compressed_chunks else {}
        return {
            "table": self.table,
            "rows_written": self.rows_written,
            "rows_replaced": self.rows_deleted,
            "window": f"[{self.window_start.isoformat()}, {self.window_end.isoformat()})",
            "write_seconds": round(self.seconds, 3),
            "rows_per_second": round(rate, 1),
            **extra,
        }


def qualified_name(table: str) -> sql.Composed:
    """`schema.table` -> a safely quoted identifier; rejects anything else."""
    parts = table.split(".")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"table must be 'schema.table', got {table!r}")
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


def _as_utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"partition bounds must be timezone-aware, got {value!r}")
    return ts.tz_convert("UTC")


def table_column_types(cursor: psycopg.Cursor, table: str) -> dict[str, str]:
    """Column name -> PostgreSQL type (as format_type prints it) of `schema.table`."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    return dict(cursor.fetchall())


def copy_frame(cursor: psycopg.Cursor, table: str, frame: pd.DataFrame) -> int:
    """COPY a DataFrame into `table`, columns matched by name; returns the rows written.

    Binary COPY (vectorised, see binary_copy) when every target column type has an encoder, else CSV.
    Either way the frame goes in chunks, so the server ingests one while Python encodes the next.
    """
    if frame.empty:
        return 0
    qualified_name(table)  # validates the name before it reaches the catalog lookup
    types = table_column_types(cursor, table)
    missing = [c for c in frame.columns if c not in types]
    if missing:
        raise psycopg.errors.UndefinedColumn(f"{table} has no column(s) {missing}")
    pg_types = [types[c] for c in frame.columns]
    binary = binary_copy.supports(pg_types)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        qualified_name(table), columns, sql.SQL("binary" if binary else "csv")
    )
    chunks = range(0, len(frame), COPY_CHUNK_ROWS)
    with cursor.copy(statement) as copy:
        for start in chunks:
            chunk = frame.iloc[start : start + COPY_CHUNK_ROWS]
            if binary:
                copy.write(
                    binary_copy.encode(chunk, pg_types, header=start == 0, trailer=start == chunks[-1])
                )
            else:
                buffer = io.StringIO()
                chunk.to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
    return len(frame)


def write_partition(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
    *,
    time_column: str = "ts",
    scope: Mapping[str, Any] | None = None,
    compressed: Strategy = DEFAULT_STRATEGY,
) -> PartitionWrite:
    """Replace the rows of `table` in [window_start, window_end) (and `scope`, if given) with `frame`.

    `scope` narrows what is replaced when several writers share a table, e.g. `{"source": "cpcb_nwmp"}` in
    `core.readings`. Every row of `frame` must fall inside the window and match the scope, otherwise a
    re-run could not find and replace it: that is an error, raised before anything is touched.
    `compressed` says how a window in compressed chunks is made writable (warehouse.compression).
    """
    start, end = _as_utc(window_start), _as_utc(window_end)
    if not start < end:
        raise ValueError(f"empty partition window [{start}, {end})")
    scope = dict(scope or {})
    if not frame.empty:
        if time_column not in frame.columns:
            raise ValueError(f"frame has no {time_column!r} column")
        times = pd.to_datetime(frame[time_column], utc=True)
        outside = (times < start) | (times >= end)
        if outside.any():
            first = times[outside].iloc[0]
            raise ValueError(
                f"{int(outside.sum())} row(s) fall outside the partition window [{start}, {end}),"
                f" e.g. {first}"
            )
        for column, value in scope.items():
            if column in frame.columns and (frame[column] != value).any():
                raise ValueError(f"rows with {column} != {value!r} do not belong to this partition's scope")
            if column not in frame.columns:
                frame = frame.assign(**{column: value})

    where = [
        sql.SQL("{} >= %s").format(sql.Identifier(time_column)),
        sql.SQL("{} < %s").format(sql.Identifier(time_column)),
    ]
    params: list[Any] = [start.to_pydatetime(), end.to_pydatetime()]
    for column, value in scope.items():
        where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        params.append(value)
    delete = sql.SQL("DELETE FROM {} WHERE {}").format(qualified_name(table), sql.SQL(" AND ").join(where))
    lock_key = f"{table}|{start.isoformat()}|{end.isoformat()}|{sorted(scope.items())}"

    began = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        # Two writers of the same partition (a retry racing a backfill) take turns instead of interleaving.
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
        chunks = prepare_rewrite(cur, table, start.to_pydatetime(), end.to_pydatetime(), compressed)
        cur.execute(delete, params)
        deleted = cur.rowcount
        written = copy_frame(cur, table, frame)
    return PartitionWrite(
        table=table,
        window_start=start.to_pydatetime(),
        window_end=end.to_pydatetime(),
        rows_deleted=max(deleted, 0),
        rows_written=written,
        seconds=time.perf_counter() - began,
        compressed_chunks=len(chunks),
    )
