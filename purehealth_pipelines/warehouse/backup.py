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

Compressed chunks (TimescaleDB Community) and a TimescaleDB bug: 2.19.x stores a batch column that is all
NULL with its "NULL" compression, which dumps as the text `Bg==` and which the type's input function cannot
read back ("function … returned NULL"; timescale/timescaledb#8893, fixed upstream by #8153). So
the compressed chunks' data is restored by this module instead of by pg_restore: the rest of the archive goes
through pg_restore (`-L` with those entries left out), then each compressed chunk's COPY data is streamed
from the archive with every `Bg==` field sent as NULL — how TimescaleDB stores an all-NULL batch column
without that compression, and how it reads it back. That is exact unless the column has a "missing value"
(added later with a non-NULL default) on that chunk, where NULL would read back as the default: such a column
stops the restore with the reason instead. `Bg==` cannot be real compressed data (one header byte, no body).

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
import tempfile
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
NULL_COMPRESSED_FIELD = "Bg=="  # COMPRESSION_ALGORITHM_NULL's only byte (6), base64 as COPY text writes it
_COMPRESSED_DATA_ENTRY = re.compile(
    r"^\d+; \d+ \d+ TABLE DATA _timescaledb_internal (?P<table>compress_hyper_\d+_\d+_chunk) ", re.MULTILINE
)


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


def split_compressed_data_entries(toc: str) -> tuple[str, list[str]]:
    """`pg_restore -l` output -> (the list with compressed chunks' TABLE DATA commented out, those lines)."""
    lines = toc.splitlines()
    excluded = [line for line in lines if _COMPRESSED_DATA_ENTRY.match(line)]
    kept = [f";{line}" if _COMPRESSED_DATA_ENTRY.match(line) else line for line in lines]
    return "\n".join(kept) + "\n", excluded


def null_compressed_as_null(line: str) -> tuple[str, list[int]]:
    """One COPY text data line with every `Bg==` field as `\\N`; also the positions replaced."""
    fields = line.rstrip("\n").split("\t")
    replaced = [i for i, f in enumerate(fields) if f == NULL_COMPRESSED_FIELD]
    for i in replaced:
        fields[i] = "\\N"
    return "\t".join(fields) + "\n", replaced


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


def _run(args: list[str], url: str, what: str) -> str:
    done = subprocess.run(args, env=_libpq_env(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()}")
    return done.stdout


def _restore_compressed_data(dump: Path, target_url: str, entry: str, work: Path) -> int:
    """Stream one compressed chunk's COPY data from the archive into the target, `Bg==` as NULL (see top)."""
    single = work / "entry.list"
    single.write_text(entry + "\n")
    args = [_tool("pg_restore"), "--data-only", f"-L{single}", "--file=-", str(dump)]
    process = subprocess.Popen(args, env=_libpq_env(target_url), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = iter(process.stdout)
    header = next((line for line in lines if line.startswith("COPY ") and "FROM stdin;" in line), None)
    rows, nulled = 0, set()
    with psycopg.connect(target_url) as conn, conn.cursor() as cur:
        if header is not None:
            statement = header.rstrip().removesuffix("FROM stdin;") + "FROM STDIN"
            columns = [c.strip().strip('"') for c in header.split("(", 1)[1].split(")", 1)[0].split(",")]
            with cur.copy(statement) as copy:
                for line in lines:
                    if line.rstrip("\n") == "\\.":
                        break
                    fixed, replaced = null_compressed_as_null(line)
                    nulled.update(columns[i] for i in replaced)
                    copy.write(fixed)
                    rows += 1
        for _ in lines:  # the script's trailer
            pass
        if process.wait() != 0:
            raise BackupError(f"pg_restore could not read {entry!r} from {dump.name}")
        table = _COMPRESSED_DATA_ENTRY.match(entry)["table"]
        with_default = cur.execute(
            """SELECT a.attname FROM _timescaledb_catalog.chunk c
                 JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id
                 JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.schema_name, c.table_name)::regclass
                WHERE cc.table_name = %s AND a.atthasmissing AND a.attname = ANY(%s)""",
            (table, sorted(nulled)),
        ).fetchall()
        if with_default:  # raising inside the connection block rolls this chunk's data back
            raise BackupError(
                f"{table}: all-NULL batches of {[r[0] for r in with_default]} cannot be restored exactly by"
                " this TimescaleDB version (columns added later with a default): restore on TimescaleDB with"
                " the fix (timescale/timescaledb#8153), or decompress those chunks before the backup"
            )
    return rows


def restore(dump: Path, target_url: str, *, work_dir: Path | None = None) -> RestoreResult:
    """Restore one backup into `target_url` (created if missing, refused if not empty); verify its counts.

    A failure after the target database was created leaves it partly restored: drop it before retrying
    (the message says which step failed; the backup file is never changed).
    """
    began = datetime.now(UTC)
    manifest = read_manifest(dump)
    kind: Kind = manifest["kind"]
    toc = _run([_tool("pg_restore"), "--list", str(dump)], target_url, f"reading {dump.name}")
    toc_without_compressed, compressed_entries = split_compressed_data_entries(toc)
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
            # Cluster-wide group roles the dump's GRANTs name, created as migration 0001 does.
            for role in WAREHOUSE_GROUP_ROLES:
                conn.execute(
                    sql.SQL(
                        "DO $$ BEGIN CREATE ROLE {} NOLOGIN;"
                        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                    ).format(sql.Identifier(role))
                )
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    database = _database(target_url)
    with tempfile.TemporaryDirectory(prefix="purehealth-restore-") as tmp:
        work = Path(work_dir or tmp)
        listing = work / "restore.list"
        listing.write_text(toc_without_compressed)
        try:
            _run(
                [
                    _tool("pg_restore"),
                    "--exit-on-error",
                    "--single-transaction",
                    f"-L{listing}",
                    f"--dbname={database}",
                    str(dump),
                ],
                target_url,
                f"pg_restore of {dump.name}",
            )
            for entry in compressed_entries:
                _restore_compressed_data(dump, target_url, entry, work)
        finally:
            if kind == "warehouse":
                with psycopg.connect(target_url, autocommit=True) as conn:
                    conn.execute("SELECT timescaledb_post_restore()")
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
