"""Fault tests of the bridge against the real Mosquitto and PostgreSQL: kill -9, database restart, broker
restart, SIGTERM drain and 10,000 fuzzed payloads. Each test is bounded (< ~60 s) and leaves both services
running, even when it fails."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines_tests.live.helpers import (
    BASE_TS,
    VALUES,
    BridgeProcess,
    assert_exactly_once,
    count_rows,
    ensure_postgres,
    make_lines,
    private_area,
    publish_lines,
    restart_postgres,
    running_bridge,
    scalar,
    start_mosquitto,
    stop_mosquitto,
    unique,
    wait_for,
)
from realtime_bridge.simulator import malformed_payload, reading_payload

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def live(module_warehouse_url, mqtt_broker, tmp_path):
    """A private topic root, stations and log folder for one test; services guaranteed up afterwards."""
    prefix, stations, root = private_area(module_warehouse_url)
    try:
        yield {
            "url": module_warehouse_url,
            "prefix": prefix,
            "stations": stations,
            "root": root,
            "logs": tmp_path,
        }
    finally:
        start_mosquitto()
        ensure_postgres(module_warehouse_url)


def test_kill9_mid_stream_then_restart_lands_every_reading_exactly_once(live) -> None:
    url, prefix, stations = live["url"], live["prefix"], live["stations"]
    per_station = 6_000
    client_id = unique("bridge-k9")
    bridge = BridgeProcess(url, client_id, live["root"], live["logs"], "--batch-max", "500").start()
    try:
        publishers = [
            publish_lines(f"{live['root']}/stations/{s}/readings", make_lines(per_station), unique("pub"))
            for s in stations
        ]
        wait_for(lambda: count_rows(url, prefix) > 0, 20, 0.01, what="first rows landed")
        bridge.kill9()
        landed_at_kill = count_rows(url, prefix)
        for proc in publishers:
            assert proc.wait(30) == 0, proc.stderr.read()
        assert landed_at_kill < len(stations) * per_station * len(VALUES), (
            "kill came too late to test anything"
        )
        # Same client id: the broker resumes the session and redelivers everything not acknowledged.
        bridge = BridgeProcess(url, client_id, live["root"], live["logs"]).start()
        expected = len(stations) * per_station * len(VALUES)
        wait_for(lambda: count_rows(url, prefix) >= expected, 45, 0.2, what="all rows after restart")
        time.sleep(0.5)  # anything still redelivered must change nothing
        assert_exactly_once(url, prefix, stations, per_station)
        assert (
            scalar(url, "SELECT count(*) FROM ops.dead_letters WHERE origin LIKE %s", (live["root"] + "%",))
            == 0
        )
    finally:
        bridge.stop()


def test_crash_between_commit_and_ack_records_each_reading_and_dead_letter_once(live) -> None:
    """The narrowest window of ack-after-commit: the batch is committed, its PUBACKs never sent.

    The broker redelivers the whole batch (MQTT DUP set); its readings must hit the unique key and its
    dead letters must not be recorded a second time. `--fault-crash-after-commits 1` makes the bridge exit
    at exactly that point, so the test does not depend on the timing of a kill.
    """
    url, prefix, stations, root = live["url"], live["prefix"], live["stations"], live["root"]
    per_station = 500
    client_id = unique("bridge-crash")
    BridgeProcess(url, client_id, root, live["logs"]).start().stop()  # the persistent session exists
    bad = 0
    for station in stations:  # queued for the offline session: the next connection gets a flood
        lines = []
        for i, line in enumerate(make_lines(per_station)):
            lines.append(line)
            if i % 10 == 0:  # a distinct bad payload each time (no two dead letters alike)
                lines.append(f'{{"ts": "not a time {station} {i}", "values": {{"ph": 7}}}}'.encode())
                bad += 1
        assert publish_lines(f"{root}/stations/{station}/readings", lines, unique("pub")).wait(30) == 0

    def dead() -> int:
        return scalar(url, "SELECT count(*) FROM ops.dead_letters WHERE origin LIKE %s", (root + "%",))

    crashing = BridgeProcess(url, client_id, root, live["logs"], "--fault-crash-after-commits", "1")
    crashing.start(wait_connected=False)
    assert crashing.proc.wait(30) == 86, crashing.log_path.read_text()
    landed, lettered = count_rows(url, prefix), dead()
    assert 0 < landed < len(stations) * per_station * len(VALUES) and lettered > 0  # one batch, unacked

    bridge = BridgeProcess(url, client_id, root, live["logs"]).start()
    try:
        expected = len(stations) * per_station * len(VALUES)
        wait_for(lambda: count_rows(url, prefix) >= expected and dead() >= bad, 45, 0.2, what="everything")
        time.sleep(0.5)  # anything still redelivered must change nothing
        assert_exactly_once(url, prefix, stations, per_station)
        assert dead() == bad
    finally:
        bridge.stop()


def test_postgres_restart_mid_stream_loses_nothing(live) -> None:
    url, prefix, stations = live["url"], live["prefix"], live["stations"][:2]
    per_station = 3_000
    with running_bridge(url, unique("bridge-pg"), live["root"], live["logs"]) as bridge:
        publishers = []
        # Paced so that the restart falls in the middle of the stream: 2 × 3,000 messages over ~6 s.
        for chunk in range(6):
            publishers += [
                publish_lines(
                    f"{live['root']}/stations/{s}/readings",
                    make_lines(500, offset=chunk * 500),
                    unique("pub"),
                )
                for s in stations
            ]
            if chunk == 2:
                restart_postgres()
            time.sleep(0.5)
        for proc in publishers:
            assert proc.wait(30) == 0, proc.stderr.read()
        expected = len(stations) * per_station * len(VALUES)
        wait_for(lambda: count_rows(url, prefix) >= expected, 45, 0.3, what="all rows after the DB restart")
        assert_exactly_once(url, prefix, stations, per_station)
        metrics = bridge.metrics()
        assert metrics["db_errors_total"] >= 1, "the restart was not noticed: the test proved nothing"
        assert bridge.health()[0] == 200


def test_mosquitto_restart_bridge_reconnects_and_resumes_session(live) -> None:
    url, prefix, stations = live["url"], live["prefix"], live["stations"][:2]
    with running_bridge(url, unique("bridge-mq"), live["root"], live["logs"], "--batch-max", "200") as bridge:
        first = [
            publish_lines(f"{live['root']}/stations/{s}/readings", make_lines(5_000), unique("pub"))
            for s in stations
        ]
        for proc in first:
            assert proc.wait(30) == 0, proc.stderr.read()
        # The broker holds the session's unacknowledged messages; stopping it saves them (persistence on).
        stop_mosquitto()
        wait_for(lambda: bridge.health()[0] == 503, 10, 0.1, what="bridge reports the broker down")
        start_mosquitto()
        wait_for(lambda: bridge.health()[0] == 200, 40, 0.2, what="bridge reconnected")
        second = [
            publish_lines(
                f"{live['root']}/stations/{s}/readings", make_lines(1_000, offset=5_000), unique("pub")
            )
            for s in stations
        ]
        for proc in second:
            assert proc.wait(30) == 0, proc.stderr.read()
        expected = len(stations) * 6_000 * len(VALUES)
        wait_for(
            lambda: count_rows(url, prefix) >= expected, 45, 0.3, what="all rows after the broker restart"
        )
        assert_exactly_once(url, prefix, stations, 6_000)
        assert bridge.metrics()["mqtt_connects_total"] >= 2


def test_sigterm_drains_commits_acks_and_exits(live) -> None:
    url, prefix, stations = live["url"], live["prefix"], live["stations"][:1]
    client_id = unique("bridge-term")
    bridge = BridgeProcess(url, client_id, live["root"], live["logs"]).start()
    proc = publish_lines(f"{live['root']}/stations/{stations[0]}/readings", make_lines(4_000), unique("pub"))
    wait_for(lambda: count_rows(url, prefix) > 0, 20, 0.01, what="first rows")
    assert bridge.stop(timeout=30) == 0
    assert "drained" in bridge.log_text()
    assert proc.wait(30) == 0
    # Whatever was not taken before SIGTERM is still in the session: a restart finishes the job.
    with running_bridge(url, client_id, live["root"], live["logs"]):
        wait_for(lambda: count_rows(url, prefix) >= 4_000 * len(VALUES), 40, 0.2, what="all rows")
        assert_exactly_once(url, prefix, stations, 4_000)


def test_ten_thousand_fuzzed_payloads_are_dead_lettered_and_valid_traffic_lands(live) -> None:
    url, prefix, stations, root = live["url"], live["prefix"], live["stations"], live["root"]
    rng = random.Random(20250601)
    now = datetime.now(UTC)
    with running_bridge(url, unique("bridge-fuzz"), root, live["logs"]) as bridge:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=unique("fuzzer"), protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(0)
        client.username_pw_set(*settings.mqtt_tools_credentials())
        client.connect(settings.mqtt_host(), settings.mqtt_port())
        client.loop_start()
        valid = 0
        kinds: dict[str, int] = {}
        last = None
        for i in range(10_000):
            station = stations[i % len(stations)]
            if i % 10 == 0:  # valid traffic around the garbage
                payload = reading_payload(station, BASE_TS + timedelta(seconds=valid), VALUES, seq=valid)
                client.publish(f"{root}/stations/{station}/readings", payload, qos=1)
                valid += 1
            if i % 97 == 0:  # an unregistered station
                kind, payload = "unknown_station", reading_payload("", now, VALUES)
                topic = f"{root}/stations/NOT-{prefix}/readings"
            else:
                kind, payload = malformed_payload(rng, now)
                topic = f"{root}/stations/{station}/readings"
            kinds[kind] = kinds.get(kind, 0) + 1
            last = client.publish(topic, payload, qos=1)
        last.wait_for_publish(30)
        client.loop_stop()
        client.disconnect()

        def dead() -> int:
            return scalar(url, "SELECT count(*) FROM ops.dead_letters WHERE origin LIKE %s", (root + "%",))

        wait_for(lambda: dead() >= 10_000, 50, 0.3, what="10,000 dead letters")
        wait_for(lambda: count_rows(url, prefix) >= valid * len(VALUES), 20, 0.2, what="valid rows")
        assert dead() == 10_000
        assert count_rows(url, prefix) == valid * len(VALUES)
        assert bridge.proc.poll() is None and bridge.health()[0] == 200
        reasons = dict(scalar_rows(url, root))
        assert set(reasons) >= {"invalid_json", "unknown_station", "bad_timestamp", "value_not_a_number"}
        assert len(kinds) >= 20


def scalar_rows(url: str, root: str) -> list[tuple[str, int]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT reason, count(*) FROM ops.dead_letters WHERE origin LIKE %s GROUP BY 1", (root + "%",)
        ).fetchall()
