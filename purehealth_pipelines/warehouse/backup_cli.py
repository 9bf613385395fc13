"""`purehealth db backup` and `purehealth db restore` (the work is in warehouse.backup)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from purehealth_pipelines import settings

BACKUP_EPILOG = """\
Writes <kind>-<database>-<UTC time>.dump (pg_dump custom format) and a .json manifest with the row count of
every table, taken in the same snapshot as the dump, for the warehouse and the Dagster database (its URL is
read from DAGSTER_HOME/dagster.yaml). Writers may keep writing during a backup.

Retention: --keep N deletes the oldest backups of the same kind and database in --dir beyond the newest N
(files not named like a backup are never touched). Suggested: nightly with --keep 7, plus a weekly copy
kept off the machine for 5 weeks (see README "Backups").

Example:  purehealth db backup --dir /var/backups/purehealth --keep 7
"""

RESTORE_EPILOG = """\
Each FILE is restored into the configured database of its kind (warehouse: PUREHEALTH_WAREHOUSE_URL or
--url; Dagster: dagster.yaml or --dagster-url; a drill restores into scratch databases with both options).
The target must not exist (it is created) or be empty: a restore never overwrites. Warehouse dumps are
restored with timescaledb_pre_restore()/timescaledb_post_restore() on a server with the dump's TimescaleDB
version. Afterwards every table's row count is compared with the manifest; exit status 1 if any differs.

Example (disaster recovery, services stopped):
  purehealth db restore /var/backups/purehealth/warehouse-purehealth-20261207T031500Z.dump \\
                        /var/backups/purehealth/dagster-purehealth_dagster-20261207T031500Z.dump
"""


def _backup(args: argparse.Namespace) -> int:
    from purehealth_pipelines.warehouse.backup import BackupError, backup, dagster_storage_url

    targets = [("warehouse", args.url or settings.warehouse_url())]
    if not args.warehouse_only:
        try:
            targets.append(("dagster", args.dagster_url or dagster_storage_url()))
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for kind, url in targets:
        try:
            done = backup(url, Path(args.dir), kind, keep=args.keep)
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        tables = done.manifest["tables"]
        print(
            f"{kind:<9} {done.path}  ({done.path.stat().st_size / 1e6:.1f} MB; {len(tables)} tables,"
            f" {sum(tables.values()):,} rows)"
        )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from purehealth_pipelines.warehouse.backup import BackupError, dagster_storage_url, read_manifest, restore

    status = 0
    for file in args.files:
        path = Path(file)
        try:
            kind = read_manifest(path)["kind"]
            if kind == "warehouse":
                url = args.url or settings.warehouse_url()
            else:
                url = args.dagster_url or dagster_storage_url()
            result = restore(path, url)
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        target = result.target_url
        print(
            f"{result.kind:<9} {path.name} -> {target}: {result.tables} tables,"
            f" {result.rows:,} rows in {result.seconds:.1f} s"
        )
        for table, (dumped, restored) in sorted(result.mismatches.items()):
            print(f"  MISMATCH {table}: {dumped} rows dumped, {restored} restored", file=sys.stderr)
            status = 1
    return status


def register(db_commands: argparse._SubParsersAction) -> None:
    """Add `backup` and `restore` under `purehealth db`."""
    fmt = argparse.RawDescriptionHelpFormatter
    backup = db_commands.add_parser(
        "backup",
        help="pg_dump the warehouse and the Dagster database (custom format + row-count manifest)",
        epilog=BACKUP_EPILOG,
        formatter_class=fmt,
    )
    backup.add_argument("--dir", default="backups", help="where to write the files (default: ./backups)")
    backup.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    backup.add_argument(
        "--dagster-url", help="Dagster database URL (default: from DAGSTER_HOME/dagster.yaml)"
    )
    backup.add_argument("--warehouse-only", action="store_true", help="skip the Dagster database")
    backup.add_argument("--keep", type=int, help="keep only the newest N backups of each database in --dir")
    backup.set_defaults(handler=_backup)
    restore = db_commands.add_parser(
        "restore",
        help="restore backups into new or empty databases and verify every table's row count",
        epilog=RESTORE_EPILOG,
        formatter_class=fmt,
    )
    restore.add_argument("files", nargs="+", metavar="FILE", help="a .dump written by `db backup`")
    restore.add_argument("--url", help="warehouse target (default: PUREHEALTH_WAREHOUSE_URL)")
    restore.add_argument("--dagster-url", help="Dagster target (default: from DAGSTER_HOME/dagster.yaml)")
    restore.set_defaults(handler=_restore)
