"""`purehealth sensors add|revoke|list|sync`: per-sensor broker (and HTTP ingest) credentials."""

from __future__ import annotations

import argparse
import sys

from purehealth_pipelines import settings


def _add(args: argparse.Namespace) -> int:
    from purehealth_pipelines.devices import registry

    try:
        issued = registry.add(args.url or settings.warehouse_url(), args.station, args.sensor, args.note)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Credential for sensor {issued.sensor_id} at station {issued.station_id}")
    print("(shown once: store it now; only its hash is kept)")
    print(f"  MQTT username: {issued.username}")
    print(f"  MQTT password: {issued.secret}")
    print(f"  HTTP token:    {issued.http_token}")
    print(f"  may publish:   purehealth/v1/stations/{issued.station_id}/readings and /status")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from purehealth_pipelines.devices import registry

    revoked = registry.revoke(args.url or settings.warehouse_url(), args.station, args.sensor)
    for username in revoked:
        print(f"revoked {username}")
    if not revoked:
        print("no active credential matched", file=sys.stderr)
        return 1
    return 0


def _list(args: argparse.Namespace) -> int:
    from purehealth_pipelines.devices import registry

    rows = registry.list_devices(args.url or settings.warehouse_url(), include_revoked=args.all)
    print(f"{'station':<20} {'sensor':<12} {'username':<40} {'issued':<20} revoked")
    for r in rows:
        revoked = r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "-"
        issued = f"{r.created_at:%Y-%m-%d %H:%M}"
        print(f"{r.station_id:<20} {r.sensor_id:<12} {r.username:<40} {issued:<20} {revoked}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from purehealth_pipelines.devices import registry

    reloaded = registry.sync(args.url or settings.warehouse_url())
    state = "broker reloaded" if reloaded else "no broker to reload"
    print(f"broker files written to {settings.mqtt_auth_dir()}; {state}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sensors = commands.add_parser("sensors", help="sensor credentials for the broker and the HTTP ingest")
    actions = sensors.add_subparsers(dest="sensors_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="issue a credential for a sensor at a station (shown once)")
    add.add_argument("station")
    add.add_argument("--sensor", default="main", help="sensor id at the station (default: main)")
    add.add_argument("--note", default=None)
    add.set_defaults(handler=_add)
    revoke = actions.add_parser("revoke", help="revoke a station's (or one sensor's) credentials")
    revoke.add_argument("station")
    revoke.add_argument("--sensor", default=None)
    revoke.set_defaults(handler=_revoke)
    list_ = actions.add_parser("list", help="list credentials (never their secrets)")
    list_.add_argument("--all", action="store_true", help="include revoked credentials")
    list_.set_defaults(handler=_list)
    sync = actions.add_parser("sync", help="re-render the broker's password/ACL files and reload it")
    sync.set_defaults(handler=_sync)
    for parser in (add, revoke, list_, sync):
        parser.add_argument("--url", default=None, help="warehouse URL (default PUREHEALTH_WAREHOUSE_URL)")
