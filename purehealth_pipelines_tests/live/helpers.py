"""Helpers for the live-path tests: the bridge as a real subprocess, the real services restarted for real."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from purehealth_pipelines import settings
from realtime_bridge.simulator import reading_payload

# The broker the suite runs against (scripts/services.sh's by default; a private one for a branch that
# changes the broker's configuration: see purehealth_pipelines_tests/private_broker.py).
MOSQUITTO_CONF = os.environ.get("PUREHEALTH_MOSQUITTO_CONF", "/etc/mosquitto/mosquitto.conf")


def tools_mqtt_args() -> list[str]:
    """Broker address and the tools login for a bridge/simulator subprocess on a test/ or bench/ tree."""
    user, password = settings.mqtt_tools_credentials()
    return ["--mqtt-host", settings.mqtt_host(), "--mqtt-port", str(settings.mqtt_port()),
            "--mqtt-username", user, "--mqtt-password", password]  # fmt: skip


# The five parameters every test reading carries, and the first reading's time (one reading per second).
VALUES = {"temp_c": 27.5, "do_mg_l": 6.8, "ph": 7.6, "ec_us_cm": 410.0, "turbidity_ntu": 12.0}
BASE_TS = datetime(2025, 6, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def add_stations(url: str, station_ids: list[str]) -> None:
    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "INSERT INTO ref.stations (station_id, name, network) VALUES (%s, %s, 'IOT')"
            " ON CONFLICT DO NOTHING",
            [(s, f"test {s}") for s in station_ids],
        )


def scalar(url: str, query: str, params: tuple = ()) -> int:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute(query, params).fetchone()[0]


def count_rows(url: str, station_prefix: str) -> int:
    return scalar(
        url, "SELECT count(*) FROM raw.sensor_readings WHERE station_id LIKE %s", (station_prefix + "%",)
    )


def private_area(url: str, n_stations: int = 4) -> tuple[str, list[str], str]:
    """A private station prefix, registered stations and MQTT topic root, so tests never see each other."""
    prefix = unique("T").upper()
    stations = [f"{prefix}-{i}" for i in range(n_stations)]
    add_stations(url, stations)
    return prefix, stations, f"test/{prefix}/purehealth/v1"


def make_lines(n: int, offset: int = 0) -> list[bytes]:
    """`n` readings payloads (all of VALUES), one per second from BASE_TS + offset s; seq = offset + i."""
    return [
        reading_payload(
            "",
            BASE_TS + timedelta(seconds=offset + i),
            {**VALUES, "do_mg_l": 6.0 + (i % 100) / 100},
            seq=offset + i,
        )
        for i in range(n)
    ]


def assert_exactly_once(url: str, prefix: str, stations: list[str], per_station: int) -> None:
    """make_lines(per_station) for each station landed exactly once: right total and no key missing."""
    expected = len(stations) * per_station * len(VALUES)
    assert count_rows(url, prefix) == expected
    # Every (station, parameter, ts) present once: the count per key is 1 and the ts range is complete.
    missing = scalar(
        url,
        """SELECT count(*) FROM unnest(%s::text[]) s(station_id)
             CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, interval '1 second') g(ts)
            WHERE NOT EXISTS (SELECT 1 FROM raw.sensor_readings r
                               WHERE r.station_id = s.station_id AND r.ts = g.ts
                                 AND r.parameter = 'do_mg_l')""",
        (stations, BASE_TS, BASE_TS + timedelta(seconds=per_station - 1)),
    )
    assert missing == 0


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
            last_error = None
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class BridgeProcess:
    """`python -m realtime_bridge bridge ...` as a subprocess with its own HTTP port and log file."""

    def __init__(self, url: str, client_id: str, topic_root: str, log_dir: Path, *extra: str) -> None:
        self.http_port = free_port()
        self.log_path = log_dir / f"{client_id}-{uuid.uuid4().hex[:4]}.log"
        self.args = [
            sys.executable,
            "-m",
            "realtime_bridge",
            "bridge",
            "--url",
            url,
            "--client-id",
            client_id,
            "--topic-root",
            topic_root,
            "--http-port",
            str(self.http_port),
            "--session-expiry",
            "600",
            *tools_mqtt_args(),
            *extra,
        ]
        self.proc: subprocess.Popen | None = None

    def start(self, wait_connected: bool = True) -> BridgeProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if wait_connected:
            wait_for(lambda: self.health()[0] == 200, 20, what=f"bridge healthy (log {self.log_path})")
        return self

    def health(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=1) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                values[name.removeprefix("purehealth_bridge_")] = float(value)
        return values

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_bridge(*args, **kwargs) -> Iterator[BridgeProcess]:
    bridge = BridgeProcess(*args, **kwargs).start()
    try:
        yield bridge
    finally:
        bridge.stop()


def publish_lines(
    topic: str, lines: list[bytes], client_id: str, host: str | None = None, port: int | None = None
) -> subprocess.Popen:
    """Start `mosquitto_pub -l` (QoS 1) publishing one message per line; returns the process (stdin fed)."""
    user, password = settings.mqtt_tools_credentials()
    proc = subprocess.Popen(
        [
            "mosquitto_pub",
            "-h",
            host or settings.mqtt_host(),
            "-p",
            str(port or settings.mqtt_port()),
            "-u",
            user,
            "-P",
            password,
            "-q",
            "1",
            "-l",
            "-t",
            topic,
            "-i",
            client_id,
            "-V",
            "mqttv5",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b"\n".join(lines) + b"\n")
    proc.stdin.close()
    return proc


# --- the real services ---------------------------------------------------------------------------------
def pg_major() -> str:
    return sorted(os.listdir("/etc/postgresql"), key=int)[-1]


def restart_postgres() -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", pg_major(), "main", "restart"],
        check=True,
        timeout=60,
        capture_output=True,
    )


def ensure_postgres(url: str) -> None:
    """Start the cluster if a failed test left it down, and wait until it accepts connections."""
    try:
        scalar(url, "SELECT 1")
        return
    except psycopg.OperationalError:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", pg_major(), "main", "start"],
            timeout=60,
            capture_output=True,
        )
    wait_for(lambda: scalar(url, "SELECT 1") == 1, 30, what="PostgreSQL up")


def mosquitto_pids() -> list[int]:
    """The suite's broker, by its pid file (not every mosquitto: a private test broker may run beside it)."""
    try:
        pid = int(settings.mqtt_pid_file().read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return []
    return [pid]


def broker_up(host: str | None = None, port: int | None = None) -> bool:
    try:
        socket.create_connection(
            (host or settings.mqtt_host(), port or settings.mqtt_port()), timeout=1
        ).close()
        return True
    except OSError:
        return False


def stop_mosquitto() -> None:
    """SIGTERM (Mosquitto writes its persistence file, then exits), as scripts/services.sh does."""
    for pid in mosquitto_pids():
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not mosquitto_pids(), 20, 0.1, what="Mosquitto stopped")


def start_mosquitto() -> None:
    if not mosquitto_pids():
        subprocess.run(["mosquitto", "-d", "-c", MOSQUITTO_CONF], check=True, timeout=20)
    wait_for(broker_up, 20, 0.1, what="Mosquitto listening")
