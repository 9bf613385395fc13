"""The `purehealth` command: warehouse admin, ingestion, the live path and the demo.

Each domain contributes its own subcommands through a `register(subparsers)` function in its `cli` module,
listed in COMMAND_MODULES; this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from purehealth_pipelines import settings

# Domains that add subcommands. Every one must import: a missing or broken module is an error at start-up,
# not a command that silently disappears from `--help`.
COMMAND_MODULES = [
    "purehealth_pipelines.sources.cli",
    "purehealth_pipelines.quality.cli",
    "purehealth_pipelines.forecasting.cli",
    "purehealth_pipelines.reports.cli",
    "realtime_bridge.cli",
    "purehealth_pipelines.api.cli",
    "purehealth_pipelines.devices.cli",
    "purehealth_pipelines.demo.cli",
    "purehealth_pipelines.alerts.cli",
    "purehealth_pipelines.deploy.cli",
]

Handler = Callable[[argparse.Namespace], int]


def _db_migrate(args: argparse.Namespace) -> int:
    from purehealth_pipelines.warehouse.migrate import migrate

    report = migrate(args.url)
    for label in report.applied:
        print(f"applied   {label}")
    print(
        f"{len(report.applied)} applied, {len(report.already_applied)} already applied; "
        f"TimescaleDB edition: {report.timescaledb_license}"
    )
    for label in report.changed_since_applied:
        print(f"WARNING: {label} changed after it was applied (add a new migration instead)", file=sys.stderr)
    return 0


def _db_status(args: argparse.Namespace) -> int:
    import psycopg

    from purehealth_pipelines.warehouse.migrate import available_migrations, timescaledb_license

    url = args.url or settings.warehouse_url()
    with psycopg.connect(url) as conn:
        license_ = timescaledb_license(conn)
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        try:
            done = {r[0] for r in conn.execute("SELECT version FROM ops.schema_migrations").fetchall()}
        except psycopg.errors.UndefinedTable:
            done = set()
    pending = [f"{m.version}_{m.name}" for m in available_migrations() if m.version not in done]
    print(f"warehouse: {url.rsplit('@', 1)[-1]}")
    print(f"timescaledb: {version[0] if version else 'not installed'} ({license_} edition)")
    print(f"migrations: {len(done)} applied, {len(pending)} pending {pending if pending else ''}")
    return 1 if pending else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="purehealth",
        description=(
            "PureHealth Pipelines: water-quality data platform for Maharashtra.\n"
            f"Warehouse: PUREHEALTH_WAREHOUSE_URL (default {settings.DEFAULT_WAREHOUSE_URL.split('@')[-1]}); "
            "broker: PUREHEALTH_MQTT_HOST/PORT (default 127.0.0.1:1883)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = commands.add_parser("db", help="warehouse administration (migrations, status, backup, restore)")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_commands.add_parser(
        "migrate", help="apply pending SQL migrations (idempotent: a second run changes nothing)"
    )
    migrate.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    migrate.set_defaults(handler=_db_migrate)
    status = db_commands.add_parser(
        "status", help="TimescaleDB edition and pending migrations (exit 1 if any)"
    )
    status.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    status.set_defaults(handler=_db_status)
    importlib.import_module("purehealth_pipelines.warehouse.backup_cli").register(db_commands)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # dagster-postgres' schema checks are noise here
    # httpx logs every request at INFO; in demo mode those are calls to the local demo publisher that print
    # real government URLs as if they were live, so only its warnings and errors reach the console.
    # great-expectations announces its ephemeral context and datasources at INFO on every check.
    for noisy in ("httpx", "httpcore", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
