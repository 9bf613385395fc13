"""Retention, configured per table in ops.retention_policies and applied the edition's way.

TimescaleDB Community has background retention policies; the Apache-2 edition (Debian's) has only
`drop_chunks`. The maintenance job calls `apply_retention` daily: on Community it makes each table's policy
match the configuration, on Apache it drops the expired chunks itself. Either way the same rows go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from purehealth_pipelines.warehouse.migrate import timescaledb_license


@dataclass(frozen=True)
class RetentionAction:
    table: str
    keep: timedelta | None
    method: str  # 'policy', 'drop_chunks' or 'keep forever'
    chunks_dropped: int


def apply_retention(conn: psycopg.Connection) -> list[RetentionAction]:
    license_ = timescaledb_license(conn)
    actions = []
    policies = conn.execute(
        "SELECT table_name, keep FROM ops.retention_policies ORDER BY table_name"
    ).fetchall()
    for table, keep in policies:
        if keep is None:
            if license_ == "timescale":
                conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,))
            actions.append(RetentionAction(table, None, "keep forever", 0))
        elif license_ == "timescale":
            with conn.transaction():
                conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,))
                conn.execute("SELECT add_retention_policy(%s::regclass, drop_after => %s)", (table, keep))
            actions.append(RetentionAction(table, keep, "policy", 0))
        else:
            dropped = conn.execute(
                "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => now() - %s::interval)",
                (table, keep),
            ).fetchone()
            actions.append(RetentionAction(table, keep, "drop_chunks", int(dropped[0]) if dropped else 0))
    return actions
