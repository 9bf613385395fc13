"""Real local receivers for the delivery tests: an aiosmtpd SMTP server and an HTTP receiver in the test
process, plus a helper that raises alerts through the pipeline's own path (rules -> reconcile -> write)."""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import psycopg
import pytest
from aiosmtpd.controller import Controller

from purehealth_pipelines.marts.alerts import evaluate_rules, load_rules, load_stored, reconcile, write_alerts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpSink:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every POST. Paths: /ok 200, /slow 200 after 50 ms, /flaky 500 twice per key then 200,
    /down always 500, /bad 400, /2010-04-01/Accounts/<sid>/Messages.json 201 (Twilio's shape)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.failures: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.status_for(self.path, self.headers.get("X-PureHealth-Idempotency-Key", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"sid": "SM123", "status": "queued"}' if status == 201 else b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def status_for(self, path: str, key: str) -> int:
        if path == "/slow":
            time.sleep(0.05)
        if path == "/down":
            return 500
        if path == "/bad":
            return 400
        if path == "/flaky":
            with self.lock:
                self.failures[key] = self.failures.get(key, 0) + 1
                return 500 if self.failures[key] <= 2 else 200
        return 201 if path.endswith("/Messages.json") else 200

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def alerts_db(module_warehouse_url: str) -> str:
    """The module's warehouse with no alerts, subscriptions or notifications left by an earlier test."""
    with psycopg.connect(module_warehouse_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE ops.alert_delivery_attempts, ops.alert_outbox, ops.alert_subscriptions, "
            "ops.alert_actions, ops.run_failures, mart.alerts RESTART IDENTITY CASCADE"
        )
    return module_warehouse_url


def raise_alerts(url: str, series: dict[tuple[str, str], list[float]], start: str) -> tuple[int, int]:
    """Readings every 15 min from `start` per (station, parameter) -> the pipeline's alert path, committed."""
    frames = [
        pd.DataFrame(
            {
                "station_id": station,
                "parameter": parameter,
                "ts": pd.date_range(start, periods=len(values), freq="15min", tz="UTC"),
                "value": values,
                "qc_flag": 1,
            }
        )
        for (station, parameter), values in series.items()
    ]
    readings = pd.concat(frames, ignore_index=True)
    rules = load_rules()
    evaluations = evaluate_rules(readings, rules)
    with psycopg.connect(url, autocommit=True) as conn:
        stored = load_stored(conn, sorted(readings["station_id"].unique()))
        changed = reconcile(evaluations, stored, rules.cooldown)
        return write_alerts(conn, changed, rules.version)


def subscribe(url: str, name: str, **columns) -> int:
    columns = {"channels": ["email"], "min_severity": "info", **columns}
    names = ", ".join(["name", *columns])
    marks = ", ".join(["%s"] * (len(columns) + 1))
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            f"INSERT INTO ops.alert_subscriptions ({names}) VALUES ({marks}) RETURNING subscription_id",
            [name, *columns.values()],
        ).fetchone()[0]


def outbox(url: str, where: str = "true") -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT idempotency_key, kind, channel, status, attempts, last_error, due_at, subscription_id "
            f"FROM ops.alert_outbox WHERE {where} ORDER BY notification_id"
        ).fetchall()
