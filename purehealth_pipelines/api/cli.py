"""`purehealth api [--host H] [--port 8080]`: the read API, its OpenAPI docs and the dashboard page."""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger("purehealth_pipelines.api")


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from purehealth_pipelines.api.app import ApiConfig, create_app
    from purehealth_pipelines.api.db import ReadOnlyViolation, analyst_url

    config = ApiConfig(
        database_url=args.url or analyst_url(),
        statement_timeout_ms=args.statement_timeout_ms,
        ws_url=None if args.ws_url == "none" else args.ws_url,
        ticket_ttl_s=args.ticket_ttl,
    )
    print(
        f"Dashboard: http://{args.host}:{args.port}/   API docs: http://{args.host}:{args.port}/docs",
        flush=True,
    )
    try:
        uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning", access_log=False)
    except ReadOnlyViolation as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _ticket_ttl(text: str) -> int:
    from purehealth_pipelines.live.tickets import MAX_TTL_S

    value = int(text)
    if not 0 < value <= MAX_TTL_S:
        raise argparse.ArgumentTypeError(
            f"a ticket lives 1..{MAX_TTL_S} s (it only has to open a connection)"
        )
    return value


def register(commands: argparse._SubParsersAction) -> None:
    api = commands.add_parser(
        "api",
        help="the read API (OpenAPI at /docs) and the live dashboard page",
        description=(
            "Serve GET /api/stations (GeoJSON), /api/stations/{id}/series|forecasts|wqi, /api/alerts (each"
            " also as CSV), the OpenAPI docs at /docs and the dashboard at /. Reads the warehouse only as the"
            " read-only analyst login (PUREHEALTH_API_DATABASE_URL, default: PUREHEALTH_WAREHOUSE_URL with"
            " user analyst) and refuses to start through a login that can write. Sensors POST readings"
            " to /ingest/v1/stations/{id}/readings[/batch] with their credential as bearer token"
            " (docs/devices.md);"
            " those land through a separate writer pool on PUREHEALTH_INGEST_DATABASE_URL (default: the"
            " warehouse URL) as role purehealth_ingest, tuned by PUREHEALTH_INGEST_RATE (msg/s per sensor,"
            " default 5), PUREHEALTH_INGEST_BURST (default 1000) and PUREHEALTH_INGEST_POOL_SIZE (default 2)."
        ),
    )
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--url", help="read-only database URL (default: the analyst login on the warehouse)")
    api.add_argument("--statement-timeout-ms", type=int, default=10_000, help="per-query limit (ms)")
    api.add_argument(
        "--ws-url",
        default="ws://{host}:8765/",
        help="the broadcaster as browsers reach it ({host} = the page's host; 'none' = no live updates)",
    )
    api.add_argument(
        "--ticket-ttl",
        type=_ticket_ttl,
        default=60,
        help=(
            "seconds a page's broadcaster ticket stays valid for opening its connection (default 60, at most"
            " 900). Tickets are minted per page load from ops.ws_ticket_keys, single-use and subscribe-only;"
            " the broadcaster's operator tokens are never given to browsers"
        ),
    )
    api.set_defaults(handler=_api)
