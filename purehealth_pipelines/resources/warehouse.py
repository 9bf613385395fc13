"""The one warehouse resource: every asset, the CLI and the bridge reach TimescaleDB through it.

psycopg 3 for the warehouse (COPY, server-side binding); dagster-postgres keeps its own psycopg2 connection
for Dagster's run storage (docs/stack_notes.md: SQLAlchemy 2.1 + psycopg 3 breaks its NOTIFY writes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd
import psycopg
from psycopg import sql
from pydantic import Field

from purehealth_pipelines import settings
from purehealth_pipelines.warehouse.writer import PartitionWrite, copy_frame, qualified_name, write_partition

__all__ = ["PartitionWrite", "WarehouseResource"]


class WarehouseResource(dg.ConfigurableResource):
    """TimescaleDB warehouse connection (URL from `PUREHEALTH_WAREHOUSE_URL`)."""

    url: str = Field(default_factory=settings.warehouse_url, description="postgresql:// URL of the warehouse")

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection: callers open `conn.transaction()` where they need atomicity."""
        with psycopg.connect(self.url, autocommit=True, application_name="purehealth") as conn:
            yield conn

    def write_partition(
        self,
        table: str,
        frame: pd.DataFrame,
        window_start: datetime,
        window_end: datetime,
        *,
        time_column: str = "ts",
        scope: Mapping[str, Any] | None = None,
    ) -> PartitionWrite:
        """Replace one partition's window of `table` with `frame`, atomically (see warehouse.writer)."""
        with self.connect() as conn:
            return write_partition(
                conn, table, frame, window_start, window_end, time_column=time_column, scope=scope
            )

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace every row of a small, unpartitioned table (reference data) in one transaction."""
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {}").format(qualified_name(table)))
            return copy_frame(cur, table, frame)

    def read_frame(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a SELECT and return it as a DataFrame (column names from the cursor)."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            columns = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def execute(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> int:
        """Run one statement; returns the affected row count."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.rowcount

    def dead_letter(self, source: str, reason: str, payload: str | None, origin: str | None = None) -> None:
        """Record one rejected input in ops.dead_letters (use `dead_letters` for many)."""
        self.dead_letters(
            pd.DataFrame([{"source": source, "origin": origin, "payload": payload, "reason": reason}])
        )

    def dead_letters(self, frame: pd.DataFrame) -> int:
        """Append rejected inputs (columns source, origin, payload, reason[, details]) to ops.dead_letters."""
        if frame.empty:
            return 0
        with self.connect() as conn, conn.cursor() as cur:
            return copy_frame(cur, "ops.dead_letters", frame)
