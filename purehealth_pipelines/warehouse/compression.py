"""Partition re-writes over compressed chunks (TimescaleDB Community), edition-aware.

Why this exists: on the Community edition the compression policies (migrations 0002, 0201, 1400) compress
chunks older than each table's horizon. A partition write is "delete the window, COPY the new rows"; a DELETE
that reaches compressed rows must decompress them first, and TimescaleDB stops any transaction that
decompresses more than `timescaledb.max_tuples_decompressed_per_dml_transaction` tuples (default 100,000)
with `ConfigurationLimitExceeded`. So a backfill or a re-run of any window older than the horizon failed
(found on the Community build). The Apache-2 edition (Debian's) has no compression, and nothing here runs
there: the lookup below is one catalog query that returns nothing unless the license is `timescale`.

Three ways through, chosen per write (`bench/bench_compressed_rewrite.py` measures each against the same
re-write over uncompressed chunks):

- `lift_limit`: `SET LOCAL` the per-transaction limit to 0 (unlimited) for this transaction only, so the
  DELETE decompresses exactly the compressed batches it touches — those whose segment and time range overlap
  the window and scope — and nothing else. The limit protects interactive sessions from an accidental
  full-table decompression; a partition write is bounded by its window, so lifting it there is deliberate.
- `decompress`: `decompress_chunk` every compressed chunk that overlaps the window before the DELETE. A bulk
  decompression is much cheaper per row than the DELETE's batch-by-batch one, but it decompresses whole
  chunks (a 7-day chunk for a 1-day window).
- `auto` (the default): `decompress` for the chunks the window covers entirely (every row of them is
  rewritten anyway), `lift_limit` for the ones it only overlaps.

Either way the rewritten chunk is left (partially) uncompressed and the table's compression policy
recompresses it on its next run; nothing here recompresses inline, so the write's transaction stays as short
as the data allows. If the transaction rolls back, so does the decompression.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg

Strategy = Literal["auto", "lift_limit", "decompress"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "lift_limit", "decompress")
DEFAULT_STRATEGY: Strategy = "auto"
DECOMPRESSION_LIMIT_GUC = "timescaledb.max_tuples_decompressed_per_dml_transaction"

_OVERLAPPING_COMPRESSED_CHUNKS = """
SELECT format('%%I.%%I', chunk_schema, chunk_name), range_start >= %s AND range_end <= %s
  FROM timescaledb_information.chunks
 WHERE current_setting('timescaledb.license', true) = 'timescale'
   AND hypertable_schema = %s AND hypertable_name = %s
   AND is_compressed
   AND range_start < %s AND range_end > %s
 ORDER BY range_start
"""


def compressed_chunks_overlapping(
    cursor: psycopg.Cursor, table: str, window_start: datetime, window_end: datetime
) -> list[tuple[str, bool]]:
    """`table`'s compressed (or partially compressed) chunks that overlap the window, as (qualified name,
    whether the window covers the whole chunk).

    Empty on the Apache edition (no compression there), for plain tables and for windows whose chunks are
    all uncompressed. `table` is 'schema.table', already validated by the writer.
    """
    schema, name = table.split(".")
    cursor.execute(
        _OVERLAPPING_COMPRESSED_CHUNKS, (window_start, window_end, schema, name, window_end, window_start)
    )
    return [(row[0], bool(row[1])) for row in cursor.fetchall()]


def prepare_rewrite(
    cursor: psycopg.Cursor,
    table: str,
    window_start: datetime,
    window_end: datetime,
    strategy: Strategy = DEFAULT_STRATEGY,
) -> list[str]:
    """Make the window writable inside the caller's open transaction; returns the compressed chunks found.

    Must run inside the partition write's transaction (after its lock, before its DELETE): `SET LOCAL` and
    `decompress_chunk` are both undone by a rollback, so a failed write leaves the chunks as they were.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown compressed-chunk strategy {strategy!r}; expected one of {STRATEGIES}")
    chunks = compressed_chunks_overlapping(cursor, table, window_start, window_end)
    decompress = [c for c, covered in chunks if strategy == "decompress" or (strategy == "auto" and covered)]
    for chunk in decompress:
        cursor.execute("SELECT decompress_chunk(%s::regclass, if_compressed => true)", (chunk,))
    if len(decompress) < len(chunks):
        cursor.execute(f"SET LOCAL {DECOMPRESSION_LIMIT_GUC} = 0")
    return [c for c, _ in chunks]
