"""Versioned SQL migrations for the warehouse.

Files `migrations/NNNN_name.sql` are applied in order, each in its own transaction, and recorded in
`ops.schema_migrations` with a checksum; an applied file that has since changed is reported, not re-run
(write a new migration instead). A session advisory lock makes concurrent `migrate` calls take turns.
Number ranges keep domains apart: 0001–0099 foundation, 0100s sources, 0200s live path, 0300s quality and
marts, 0400s forecasting, 0700s read API.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from purehealth_pipelines import settings

log = logging.getLogger(__name__)
MIGRATIONS_LOCK = 7_210_001  # arbitrary advisory-lock key owned by the migrator


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    already_applied: list[str]
    changed_since_applied: list[str]
    timescaledb_license: str


def available_migrations() -> list[Migration]:
    folder = resources.files("purehealth_pipelines.warehouse") / "migrations"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version=version, name=Path(rest).stem, sql=entry.read_text()))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {folder}: {versions}")
    return found


def timescaledb_license(conn: psycopg.Connection) -> str:
    """'apache' (hypertables, time_bucket, drop_chunks) or 'timescale' (also compression, caggs, policies)."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return (row[0] if row else None) or "none"


def migrate(url: str | None = None) -> MigrationReport:
    """Bring the warehouse at `url` up to the newest migration; idempotent."""
    url = url or settings.warehouse_url()
    applied, already, changed = [], [], []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATIONS_LOCK,))
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS ops.schema_migrations (
                       version text PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = dict(conn.execute("SELECT version, checksum FROM ops.schema_migrations").fetchall())
            for migration in available_migrations():
                label = f"{migration.version}_{migration.name}"
                if migration.version in done:
                    (already if done[migration.version] == migration.checksum else changed).append(label)
                    continue
                log.info("applying migration %s", label)
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied.append(label)
            _ensure_analyst_login(conn)
            _ensure_alert_api_login(conn)
            license_ = timescaledb_license(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATIONS_LOCK,))
    for label in changed:
        log.warning("migration %s changed after it was applied; add a new migration instead", label)
    return MigrationReport(applied, already, changed, license_)


ANALYST_STATEMENT_TIMEOUT = "60s"


def _ensure_analyst_login(conn: psycopg.Connection) -> None:
    """A login `analyst` in the read-only group, so analysts can connect with psql or a BI tool."""
    conn.execute(
        """DO $$ BEGIN
             CREATE ROLE analyst LOGIN IN ROLE purehealth_analyst;
           EXCEPTION WHEN duplicate_object THEN NULL; END $$"""
    )
    conn.execute(sql.SQL("ALTER ROLE analyst PASSWORD {}").format(sql.Literal(settings.analyst_password())))
    # Read-only by default and bounded: a runaway BI query must not hold the warehouse (or a lock) for long.
    conn.execute("ALTER ROLE analyst SET default_transaction_read_only = on")
    conn.execute(
        sql.SQL("ALTER ROLE analyst SET statement_timeout = {}").format(
            sql.Literal(ANALYST_STATEMENT_TIMEOUT)
        )
    )
    conn.execute("ALTER ROLE analyst SET idle_in_transaction_session_timeout = '5min'")


def _ensure_alert_api_login(conn: psycopg.Connection) -> None:
    """A login `alert_api` in purehealth_alert_actor (migration 1200): the API's writer for alert actions."""
    conn.execute(
        """DO $$ BEGIN
             CREATE ROLE alert_api LOGIN IN ROLE purehealth_alert_actor;
           EXCEPTION WHEN duplicate_object THEN NULL; END $$"""
    )
    password = sql.Literal(settings.alert_api_password())
    conn.execute(sql.SQL("ALTER ROLE alert_api PASSWORD {}").format(password))
    conn.execute("ALTER ROLE alert_api SET statement_timeout = '10s'")
    conn.execute("ALTER ROLE alert_api SET idle_in_transaction_session_timeout = '1min'")
