"""`purehealth bridge`, `purehealth broadcast`, `purehealth simulate` (also `python -m realtime_bridge`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta

from purehealth_pipelines import settings
from realtime_bridge.bridge import BridgeConfig
from realtime_bridge.simulator import DEFAULT_SEED

# The bridge's defaults are BridgeConfig's: the CLI shows them, it does not restate them.
BRIDGE_DEFAULTS = BridgeConfig(database_url="")


def _credential(args: argparse.Namespace) -> tuple[str, str] | None:
    """--mqtt-username/--mqtt-password, when given (the password may come from PUREHEALTH_MQTT_PASSWORD)."""
    if not args.mqtt_username:
        return None
    return args.mqtt_username, args.mqtt_password or os.environ.get("PUREHEALTH_MQTT_PASSWORD", "")


def _bridge(args: argparse.Namespace) -> int:
    from realtime_bridge.bridge import Bridge

    config = BridgeConfig(
        database_url=args.url or settings.warehouse_url(),
        mqtt_host=args.mqtt_host or settings.mqtt_host(),
        mqtt_port=args.mqtt_port or settings.mqtt_port(),
        mqtt_credential=_credential(args) or settings.mqtt_bridge_credentials(),
        client_id=args.client_id,
        share_group=args.share_group,
        topic_root=args.topic_root,
        session_expiry_s=args.session_expiry,
        batch_max=args.batch_max,
        batch_wait_s=args.batch_wait_ms / 1000.0,
        receive_maximum=args.receive_maximum,
        http_host=args.http_host,
        http_port=args.http_port,
        offline_after=timedelta(seconds=args.offline_after),
        health_check_interval_s=args.health_interval,
        notify=not args.no_broadcast,
        crash_after_commits=args.fault_crash_after_commits,
        fast_receive=not args.plain_paho,
    )
    return Bridge(config).run()


def _broadcast(args: argparse.Namespace) -> int:
    from realtime_bridge.broadcaster import BroadcasterConfig, run_broadcaster

    tokens = [t for t in (args.token or []) if t]
    tokens += [t for t in os.environ.get("PUREHEALTH_WS_TOKENS", "").split(",") if t]
    secret = args.secret or os.environ.get("PUREHEALTH_WS_SECRET") or None
    if not tokens and not secret:
        print(
            "broadcast: no operator --token/--secret: only browser tickets (minted by `purehealth api`) are"
            " accepted",
            file=sys.stderr,
        )
    config = BroadcasterConfig(
        database_url=args.url or settings.warehouse_url(),
        host=args.host,
        port=args.port,
        tokens=frozenset(tokens),
        secret=secret.encode() if secret else None,
        window_s=args.window_ms / 1000.0,
        max_pending_frames=args.max_pending_frames,
        max_pending_bytes=args.max_pending_bytes,
        send_buffer_bytes=args.send_buffer,
    )
    return run_broadcaster(config)


def _simulate(args: argparse.Namespace) -> int:
    from realtime_bridge.simulator import SimulatorConfig, run_simulator

    config = SimulatorConfig(
        database_url=args.url or settings.warehouse_url(),
        mqtt_host=args.mqtt_host or settings.mqtt_host(),
        mqtt_port=args.mqtt_port or settings.mqtt_port(),
        mqtt_credential=_credential(args),
        stations=args.stations,
        rate=args.rate,
        duration_s=args.duration,
        faults=args.faults,
        topic_root=args.topic_root,
        seed=None if args.seed == -1 else args.seed,
        heartbeat_every_s=args.heartbeat_every,
        do_drop_every_s=args.do_drop_every,
        fault_log=args.fault_log,
    )
    return run_simulator(config)


def _common(parser: argparse.ArgumentParser, mqtt: bool = True) -> None:
    parser.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    if mqtt:
        parser.add_argument("--mqtt-host", help="broker host (default: PUREHEALTH_MQTT_HOST or 127.0.0.1)")
        parser.add_argument(
            "--mqtt-port", type=int, help="broker port (default: PUREHEALTH_MQTT_PORT or 1883)"
        )
        parser.add_argument(
            "--topic-root", default=BRIDGE_DEFAULTS.topic_root, help="topic tree root (default %(default)s)"
        )
        parser.add_argument(
            "--mqtt-username",
            help="broker login (bridge default: PUREHEALTH_MQTT_BRIDGE_USERNAME; simulate default: a sensor "
            "credential per station on purehealth/v1, else the tools credential)",
        )
        parser.add_argument("--mqtt-password", help="broker password (or PUREHEALTH_MQTT_PASSWORD)")


def register(commands: argparse._SubParsersAction) -> None:
    bridge = commands.add_parser(
        "bridge",
        help="MQTT -> raw.sensor_messages (QoS 1, ack after commit, dead letters, sensor health)",
        description=(
            "Subscribe to <root>/stations/+/readings and /status (QoS 1, persistent MQTT v5 session),"
            " validate, land each message as one row of raw.sensor_messages in batches (idempotent; the view"
            " raw.sensor_readings shows one row per reading), dead-letter what is"
            " invalid, keep ops.sensor_health, and acknowledge each message only after COMMIT. Several"
            " instances share the load with --share-group (each with its own --client-id). SIGTERM drains"
            " and exits cleanly."
        ),
    )
    _common(bridge)
    bridge.add_argument(
        "--client-id",
        default=os.environ.get("PUREHEALTH_BRIDGE_CLIENT_ID", BRIDGE_DEFAULTS.client_id),
        help="stable MQTT client id: the persistent session is keyed on it",
    )
    bridge.add_argument("--share-group", help="use the shared subscription $share/<group>/... (load sharing)")
    bridge.add_argument(
        "--session-expiry",
        type=int,
        default=BRIDGE_DEFAULTS.session_expiry_s,
        help="seconds the broker keeps the session (and queues messages) while we are away",
    )
    bridge.add_argument(
        "--batch-max",
        type=int,
        default=BRIDGE_DEFAULTS.batch_max,
        help="flush a batch at this many messages (default %(default)s)",
    )
    bridge.add_argument(
        "--batch-wait-ms",
        type=float,
        default=BRIDGE_DEFAULTS.batch_wait_s * 1000.0,
        help="flush a batch this long after its first message at the latest (under load batches grow "
        "anyway: the next one is collected while the previous commits)",
    )
    bridge.add_argument(
        "--receive-maximum",
        type=int,
        default=BRIDGE_DEFAULTS.receive_maximum,
        help="MQTT v5 Receive Maximum (default min(65535, 4 x batch-max))",
    )
    bridge.add_argument("--http-host", default=BRIDGE_DEFAULTS.http_host)
    bridge.add_argument("--http-port", type=int, default=9108, help="/health and /metrics (0 = off)")
    bridge.add_argument(
        "--offline-after",
        type=float,
        default=BRIDGE_DEFAULTS.offline_after.total_seconds(),
        help="seconds of silence after which a station is marked offline (default %(default)s)",
    )
    bridge.add_argument(
        "--health-interval",
        type=float,
        default=BRIDGE_DEFAULTS.health_check_interval_s,
        help="offline check period in seconds (default %(default)s)",
    )
    bridge.add_argument(
        "--no-broadcast",
        action="store_true",
        help="do not NOTIFY the broadcaster (purehealth_readings channel)",
    )
    bridge.add_argument(
        "--plain-paho",
        action="store_true",
        help="receive with paho's own loop instead of fastmqtt's read-ahead path (same guarantees, more CPU "
        "per message; for a paho version fastmqtt does not support, which it also detects by itself)",
    )
    bridge.add_argument(
        "--fault-crash-after-commits",
        type=int,
        default=0,
        metavar="N",
        help="FAULT INJECTION, for tests: exit hard right after the N-th COMMIT, before its PUBACKs are sent"
        " (the crash the ack-after-commit design must survive); 0 = never",
    )
    bridge.set_defaults(handler=_bridge)

    broadcast = commands.add_parser(
        "broadcast",
        help="WebSocket broadcaster of committed readings, alerts and forecasts",
        description=(
            "Serve ws://HOST:PORT/. Clients authenticate with ?token=... or 'Authorization: Bearer ...'"
            " (an operator token, one signed with --secret, or a short-lived subscribe-only browser ticket"
            " minted by the read API from ops.ws_ticket_keys), subscribe to stations, and receive JSON"
            " frames (arrays of {type: reading|alert|forecast}). Readings come from the bridge via"
            " PostgreSQL NOTIFY after commit; alerts/forecasts from NOTIFY on channel purehealth_events."
        ),
    )
    _common(broadcast, mqtt=False)
    broadcast.add_argument("--host", default="127.0.0.1")
    broadcast.add_argument("--port", type=int, default=8765)
    broadcast.add_argument(
        "--token",
        action="append",
        help="an accepted operator token (repeatable; for tools and developers, never handed to browsers)",
    )
    broadcast.add_argument("--secret", help="HMAC secret for signed tokens (see realtime_bridge/README.md)")
    broadcast.add_argument("--window-ms", type=float, default=25.0, help="frame batching window per client")
    broadcast.add_argument(
        "--max-pending-frames",
        type=int,
        default=200,
        help="frames queued for one client before it is dropped as too slow",
    )
    broadcast.add_argument(
        "--max-pending-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="bytes queued for one client before it is dropped as too slow",
    )
    broadcast.add_argument(
        "--send-buffer", type=int, default=0, help="socket send buffer per client in bytes (0 = OS default)"
    )
    broadcast.set_defaults(handler=_broadcast)

    simulate = commands.add_parser(
        "simulate",
        help="publish realistic sensor readings for registered stations (optionally with faults)",
        description=(
            "Publish readings for N stations from ref.stations at R messages/s in total for S seconds:"
            " diurnal DO and temperature, noise; with --faults also drift, spikes, stuck sensors, dropouts,"
            " DO drops (anoxia) and malformed messages. Heartbeats on /status. Station levels come from"
            " --seed, so with the default seed live readings continue the history `purehealth demo run`"
            " seeded."
        ),
    )
    _common(simulate)
    simulate.add_argument(
        "--stations", type=int, default=10, help="number of registered stations to simulate"
    )
    simulate.add_argument(
        "--rate", type=float, default=10.0, help="readings messages per second (all stations)"
    )
    simulate.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    simulate.add_argument(
        "--faults", action="store_true", help="inject drift/spikes/stuck/dropouts/malformed"
    )
    simulate.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the station models (default {DEFAULT_SEED}, the demo history's: live readings "
        "continue the history `make demo` seeded; -1 = random levels)",
    )
    simulate.add_argument(
        "--fault-log",
        metavar="PATH",
        help="with --faults: append one JSON line {station_id, ts, parameter, fault} per injected fault",
    )
    simulate.add_argument(
        "--do-drop-every",
        type=float,
        default=600.0,
        metavar="S",
        help="with --faults: every S seconds one station's DO falls to 0.8-2 mg/L for 90 s (default 600)",
    )
    simulate.add_argument(
        "--heartbeat-every", type=float, default=30.0, help="heartbeat period per station (s)"
    )
    simulate.set_defaults(handler=_simulate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime_bridge")
    parser.add_argument("-v", "--verbose", action="store_true")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.handler(args)
