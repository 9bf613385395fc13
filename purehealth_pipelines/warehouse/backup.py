"""Backups of the warehouse and the Dagster database: `purehealth db backup` / `purehealth db restore`.

What a backup is: one `pg_dump` custom-format archive per database (`<kind>-<database>-<UTC stamp>.dump`)
plus a manifest beside it (`.json`: kind, database, server and TimescaleDB versions, and the exact row count
of every table). The counts are taken in the *same snapshot* the dump reads (`pg_export_snapshot()` held open
in a REPEATABLE READ transaction, handed to `pg_dump --snapshot`), so a restore can prove it got back exactly
what was dumped, table by table, while writers kept writing during the backup.

Why TimescaleDB needs more than pg_restore: a hypertable's chunks and its catalog rows must be restored
together without the extension's triggers and background jobs acting half-way, so a warehouse restore runs
`timescaledb_pre_restore()` before and `timescaledb_post_restore()` after (Timescale's documented procedure),
into a database whose TimescaleDB version is the dump's. The Dagster database is a plain pg_dump/pg_restore.

Restores never overwrite: the target database must not exist (it is created) or be empty; otherwise the
restore stops before touching anything, with the reason. Passwords go to pg_dump/pg_restore through the
environment (PGPASSWORD), never on a command line other users can read with `ps`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines import settings

Kind = Literal["warehouse", "dagster"]
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^(?P<kind>warehouse|dagster)-(?P<database>.+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
# Schemas whose tables are counted: the warehouse's own and Dagster's (public). TimescaleDB's catalog and
# chunk schemas are counted through the hypertables themselves.
COUNTED_SCHEMAS = {"warehouse": ("ref", "raw", "core", "mart", "ml", "ops"), "dagster": ("public",)}
WAREHOUSE_GROUP_ROLES = ("purehealth_writer", "purehealth_analyst")


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    manifest: dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    target_url: str
    kind: Kind
    tables: int
    rows: int
    mismatches: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # table -> (dumped, restored)
    seconds: float = 0.0


# --- pure helpers -------------------------------------------------------------------------------------------
def backup_name(kind: Kind, database: str, when: datetime) -> str:
    """`warehouse-purehealth-20261207T031500Z.dump`: sortable by time within one kind and database."""
    return f"{kind}-{database}-{when.astimezone(UTC).strftime(STAMP_FORMAT)}.dump"


def manifest_path(dump: Path) -> Path:
    return dump.with_suffix(".json")


def backups_to_prune(names: Iterable[str], keep: int) -> list[str]:
    """The backup files beyond the newest `keep` of each (kind, database); other files are never touched."""
    if keep < 1:
        raise ValueError("keep must be at least 1 (the backup just taken)")
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name in names:
        match = _NAME.match(name)
        if match:
            groups.setdefault((match["kind"], match["database"]), []).append((match["stamp"], name))
    prune = []
    for entries in groups.values():
        prune += [name for _, name in sorted(entries, reverse=True)[keep:]]
    return sorted(prune)


def compare_counts(dumped: dict[str, int], restored: dict[str, int]) -> dict[str, tuple[int, int | None]]:
    """Tables whose restored row count differs from the dump's manifest (None: table missing)."""
    return {t: (n, restored.get(t)) for t, n in dumped.items() if restored.get(t) != n}


def dagster_storage_url(dagster_home: Path | None = None) -> str:
    """The Dagster database's URL, from the instance's dagster.yaml (`storage.postgres.postgres_url`).

    One home for it: the dagster.yaml that Dagster itself reads (DAGSTER_HOME, else the project root). The
    `+psycopg2` driver suffix Dagster needs is dropped for libpq tools.
    """
    home = dagster_home or Path(os.environ.get("DAGSTER_HOME", settings.project_root()))
    config_file = home / "dagster.yaml"
    try:
        config = yaml.safe_load(config_file.read_text()) or {}
    except FileNotFoundError as exc:
        raise BackupError(f"no dagster.yaml in {home}; pass --dagster-url") from exc
    url = (config.get("storage") or {}).get("postgres", {}).get("postgres_url")
    if isinstance(url, dict) and "env" in url:
        url = os.environ.get(url["env"])
    if not isinstance(url, str):
        raise BackupError(f"{config_file} has no storage.postgres.postgres_url; pass --dagster-url")
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def _database(url: str) -> str:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise BackupError(f"the URL names no database: {_redact(url)}")
    return str(name)


def _redact(url: str) -> str:
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return make_conninfo(**params)


def _libpq_env(url: str) -> dict[str, str]:
    """pg_dump/pg_restore connection settings as libpq environment variables (the password stays off argv)."""
    params = conninfo_to_dict(url)
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[k]: str(v) for k, v in params.items() if k in names and v is not None})
    if "sslmode" in params:
        env["PGSSLMODE"] = str(params["sslmode"])
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found on PATH (Debian: apt-get install postgresql-client)")
    return path


# --- I/O ---------------------------------------------------------------------------------------------------
def table_counts(conn: psycopg.Connection, kind: Kind) -> dict[str, int]:
    """Exact row count of every ordinary/partitioned table (and hypertable) in the kind's schemas."""
    tables = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) ORDER BY 1, 2""",
        (list(COUNTED_SCHEMAS[kind]),),
    ).fetchall()
    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[f"{schema}.{table}"] = int(conn.execute(query).fetchone()[0])
    return counts


def _timescaledb_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row[0] if row else None


def backup(url: str, directory: Path, kind: Kind, *, keep: int | None = None) -> BackupFile:
    """Dump the database at `url` into `directory` with its manifest; prune old ones if `keep` is given."""
    directory.mkdir(parents=True, exist_ok=True)
    database = _database(url)
    now = datetime.now(UTC)
    target = directory / backup_name(kind, database, now)
    partial = target.with_suffix(".dump.partial")
    with psycopg.connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = table_counts(conn, kind)
        manifest = {
            "kind": kind,
            "database": database,
            "created_at": now.isoformat(),
            "server_version": conn.info.server_version,
            "timescaledb_version": _timescaledb_version(conn),
            "tables": counts,
        }
        # pg_dump reads the snapshot this transaction exported; it must stay open until pg_dump is done.
        done = subprocess.run(
            [_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={partial}"],
            env=_libpq_env(url),
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump of {database} failed: {done.stderr.strip()}")
    partial.rename(target)
    manifest_path(target).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if keep is not None:
        for name in backups_to_prune((p.name for p in directory.iterdir()), keep):
            (directory / name).unlink()
            manifest_path(directory / name).unlink(missing_ok=True)
    return BackupFile(target, manifest)


def read_manifest(dump: Path) -> dict[str, Any]:
    path = manifest_path(dump)
    if not path.exists():
        raise BackupError(f"{path} is missing: it says which database {dump.name} holds and its row counts")
    return json.loads(path.read_text())


def _admin_url(url: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": "postgres"})


def _prepare_target(url: str) -> None:
    """Create the target database, or accept it if it exists and holds no tables; refuse anything else."""
    database = _database(url)
    with psycopg.connect(_admin_url(url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            return
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE '\\_timescaledb%%' AND n.nspname NOT LIKE 'timescaledb%%'
                  AND n.nspname NOT LIKE 'pg\\_toast%%'"""
        ).fetchone()[0]
    if tables:
        raise BackupError(
            f"database {database} already holds {tables} table(s); a restore never overwrites: drop or rename"
            " it first, or restore into another database with --url / --dagster-url"
        )


def restore(dump: Path, target_url: str) -> RestoreResult:
    """Restore one backup into `target_url` (created if missing, refused if not empty); verify its counts."""
    began = datetime.now(UTC)
    manifest = read_manifest(dump)
    kind: Kind = manifest["kind"]
    _prepare_target(target_url)
    if kind == "warehouse":
        with psycopg.connect(target_url, autocommit=True) as conn:
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
            ).fetchone()
            if available is None or available[0] != manifest["timescaledb_version"]:
                raise BackupError(
                    f"{dump.name} was dumped with TimescaleDB {manifest['timescaledb_version']}; this server"
                    f" offers {available[0] if available else 'none'}: restore on a server with that version"
                )
            for (
                role
            ) in WAREHOUSE_GROUP_ROLES:  # cluster-wide roles a dump's GRANTs name (as 0001 creates them)
                conn.execute(
                    sql.SQL(
                        "DO $$ BEGIN CREATE ROLE {} NOLOGIN;"
                        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                    ).format(sql.Identifier(role))
                )
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    try:
        done = subprocess.run(
            [
                _tool("pg_restore"),
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_database(target_url)}",
                str(dump),
            ],
            env=_libpq_env(target_url),
            capture_output=True,
            text=True,
        )
    finally:
        if kind == "warehouse":
            with psycopg.connect(target_url, autocommit=True) as conn:
                conn.execute("SELECT timescaledb_post_restore()")
    if done.returncode != 0:
        raise BackupError(f"pg_restore of {dump.name} failed: {done.stderr.strip()}")
    with psycopg.connect(target_url) as conn:
        restored = table_counts(conn, kind)
    dumped = manifest["tables"]
    return RestoreResult(
        path=dump,
        target_url=_redact(target_url),
        kind=kind,
        tables=len(restored),
        rows=sum(restored.values()),
        mismatches=compare_counts(dumped, restored),
        seconds=(datetime.now(UTC) - began).total_seconds(),
    )
