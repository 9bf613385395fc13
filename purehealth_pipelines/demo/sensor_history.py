"""Recent sensor history for the demo, delivered as real sensors deliver it: over MQTT, through the bridge.

The batch demo needs a few days of live-station readings for the quality, mart and forecasting assets to
work on. Instead of writing them into the landing table directly, this publishes them as sensor messages
(docs/contracts.md §7 payloads, QoS 1) to the real broker while a real `purehealth bridge` lands them, so
the demo exercises the same validation, dead-lettering and exactly-once landing as production traffic.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

import psycopg
from tqdm import tqdm

from realtime_bridge.mqtt_auth import StationPublisher
from realtime_bridge.simulator import DEFAULT_SEED, StationModel

log = logging.getLogger(__name__)
TOPIC = "purehealth/v1/stations/{station_id}/readings"
SEED_CLIENT_ID = "purehealth-demo-seed-bridge"
SEED_HEALTH_PORT = 9119


def history_messages(
    station_ids: list[str], start: datetime, end: datetime, step: timedelta, seed: int = DEFAULT_SEED
) -> list[tuple[str, bytes]]:
    """(topic, payload) per station and step in [start, end): diurnal cycles, noise, occasional spikes.

    The station models are the live simulator's (same seed): `purehealth simulate` continues this history.
    """
    messages = []
    for station_id in station_ids:
        model = StationModel.create(station_id, seed)
        at, seq = start, 0
        while at < end:
            payload = {
                "ts": at.isoformat(),
                "values": model.values(at, faults=True),
                "sensor_id": f"{station_id}-sonde",
                "seq": seq,
            }
            messages.append((TOPIC.format(station_id=station_id), json.dumps(payload).encode()))
            at, seq = at + step, seq + 1
    return messages


def _wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the seeding bridge did not become healthy within {timeout:.0f} s")


def _landed(url: str, start: datetime, end: datetime, station_ids: list[str]) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM raw.sensor_readings WHERE ts >= %s AND ts < %s AND station_id = ANY(%s)",
            (start, end, station_ids),
        ).fetchone()
    return int(row[0]) if row else 0


def seed_sensor_history(
    url: str,
    station_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    mqtt_host: str,
    mqtt_port: int,
    step: timedelta = timedelta(minutes=15),
    quiet: bool = False,
    timeout: float = 300.0,
    client_id: str = SEED_CLIENT_ID,
    health_port: int = SEED_HEALTH_PORT,
) -> int:
    """Publish the history through the broker to a bridge started for the purpose; returns readings landed."""
    messages = history_messages(station_ids, start, end, step)
    bridge = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime_bridge",
            "bridge",
            "--url",
            url,
            "--mqtt-host",
            mqtt_host,
            "--mqtt-port",
            str(mqtt_port),
            "--client-id",
            client_id,
            "--http-port",
            str(health_port),
            "--no-broadcast",
        ],
    )
    try:
        _wait_healthy(health_port, timeout=30)
        # Like real sensors: one credential per station (rotated each run), confined by the broker's ACL to
        # that station's topics; the bridge above logs in with the subscribe-only bridge credential.
        from purehealth_pipelines.devices import registry

        issued = registry.provision(url, station_ids, sensor_id="demo-history")
        client = StationPublisher(mqtt_host, mqtt_port, f"{client_id}-publisher", per_station=issued)
        pending = []
        for topic, payload in tqdm(messages, desc="sensor history -> MQTT", unit="msg", disable=quiet):
            pending.append(client.publish(topic.split("/")[3], topic, payload, qos=1))
            if len(pending) >= 1000:
                for info in pending:
                    info.wait_for_publish(timeout=30)
                pending.clear()
        for info in pending:
            info.wait_for_publish(timeout=30)
        client.close()
        expected = sum(len(json.loads(p)["values"]) for _, p in messages)
        deadline = time.monotonic() + timeout
        while (landed := _landed(url, start, end, station_ids)) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        if landed < expected:
            log.warning("only %d of %d demo sensor readings landed within %.0f s", landed, expected, timeout)
        return landed
    finally:
        bridge.terminate()
        try:
            bridge.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bridge.kill()
