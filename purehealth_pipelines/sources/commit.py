"""Commit one partition window of a source: its rows AND its dead letters, in one transaction.

`warehouse.writer.write_partition` already replaces a window atomically. Sources also reject records, and a
re-run must not append the same dead letters again, nor may a failure land the rows but lose the rejects (or
the reverse). So the dead letters of the window (tagged `details.partition_ts` by `common.dead_letter_frame`)
are replaced inside the same outer transaction; `write_partition`'s own transaction becomes a savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.sources.common import utc_text
from purehealth_pipelines.warehouse.writer import PartitionWrite, copy_frame, write_partition


@dataclass(frozen=True)
class SourceCommit:
    write: PartitionWrite
    dead_letters_replaced: int
    dead_letters_written: int


def commit_source_window(
    warehouse: WarehouseResource,
    *,
    table: str,
    source: str,
    rows: pd.DataFrame,
    dead_letters: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
    scope: dict[str, object] | None = None,
) -> SourceCommit:
    """Replace the window's rows in `table` and the window's dead letters of `source`, all or nothing.

    `scope` narrows the rows replaced (e.g. `{"parameter": "tmax_c"}` when one IMD variable is backfilled
    from a file: the year's rain and tmin rows must stay)."""
    with warehouse.connect() as conn, conn.transaction():
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM ops.dead_letters WHERE source = %s AND details ? 'partition_ts'"
                " AND details->>'partition_ts' >= %s AND details->>'partition_ts' < %s",
                (source, utc_text(window_start), utc_text(window_end)),
            )
            replaced = max(cur.rowcount, 0)
            written_dead = copy_frame(cur, "ops.dead_letters", dead_letters) if not dead_letters.empty else 0
        write = write_partition(conn, table, rows, window_start, window_end, scope=scope)
    return SourceCommit(write=write, dead_letters_replaced=replaced, dead_letters_written=written_dead)
