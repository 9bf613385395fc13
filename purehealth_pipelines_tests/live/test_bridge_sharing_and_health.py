"""Two bridge behaviours against the real Mosquitto and PostgreSQL: load sharing between bridge instances
(MQTT v5 shared subscription, README "Several instances") and the offline check of ops.sensor_health
(README "Sensor health"). Neither test restarts a service; each stops its bridges in `finally`."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest

from purehealth_pipelines_tests.live.helpers import (
    BASE_TS,
    VALUES,
    BridgeProcess,
    assert_exactly_once,
    count_rows,
    make_lines,
    private_area,
    publish_lines,
    scalar,
    unique,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


def health_row(url: str, station_id: str) -> dict | None:
    with psycopg.connect(url, connect_timeout=3) as conn:
        cur = conn.execute(
            "SELECT status, offline_since, last_seen, last_reading_ts, messages_total"
            " FROM ops.sensor_health WHERE station_id = %s",
            (station_id,),
        )
        row = cur.fetchone()
        return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


def test_two_bridges_in_a_share_group_split_the_stream_and_land_each_reading_once(
    module_warehouse_url, mqtt_broker, tmp_path
) -> None:
    url = module_warehouse_url
    prefix, stations, root = private_area(url)
    per_station = 1_500
    messages = len(stations) * per_station
    group = unique("share")
    bridges = [
        BridgeProcess(url, unique(f"bridge-{name}"), root, tmp_path, "--share-group", group)
        for name in ("a", "b")
    ]
    try:
        for bridge in bridges:
            bridge.start(wait_connected=False)
        for bridge in bridges:
            wait_for(lambda b=bridge: b.health()[0] == 200, 20, what=f"{bridge.log_path} healthy")
        publishers = [
            publish_lines(f"{root}/stations/{s}/readings", make_lines(per_station), unique("pub"))
            for s in stations
        ]
        for proc in publishers:
            assert proc.wait(30) == 0, proc.stderr.read()
        expected_rows = messages * len(VALUES)
        wait_for(lambda: count_rows(url, prefix) >= expected_rows, 30, 0.2, what="all rows")

        def total(metric: str) -> float:
            return sum(bridge.metrics()[metric] for bridge in bridges)

        wait_for(lambda: total("messages_acked_total") >= messages, 10, 0.1, what="every message acked")
        time.sleep(0.5)  # a message delivered to both members would show up now
        assert_exactly_once(url, prefix, stations, per_station)

        per_bridge = [bridge.metrics() for bridge in bridges]
        # The broker handed each message to ONE member: no copies offered, none received twice …
        assert sum(m["messages_received_total"] for m in per_bridge) == messages
        assert sum(m["messages_committed_total"] for m in per_bridge) == messages
        assert sum(m["rows_offered_total"] for m in per_bridge) == expected_rows
        assert sum(m["rows_inserted_total"] for m in per_bridge) == expected_rows
        # … and BOTH members took a share (without --share-group each would have received all of them).
        shares = [m["messages_committed_total"] for m in per_bridge]
        assert all(share > 0 for share in shares), f"one bridge took everything: {shares}"
        for m in per_bridge:
            assert m["dead_letters_total"] == 0
            assert m["db_errors_total"] == 0
        # Both bridges upserted the same stations' health concurrently; the counts still add up exactly.
        for station in stations:
            row = health_row(url, station)
            assert row is not None and row["status"] == "online"
            assert row["messages_total"] == per_station
            assert row["last_reading_ts"] == BASE_TS + timedelta(seconds=per_station - 1)
    finally:
        return_codes = [bridge.stop() for bridge in bridges]
    assert return_codes == [0, 0]


def test_silent_station_is_marked_offline_and_comes_back_online_with_new_readings(
    module_warehouse_url, mqtt_broker, tmp_path
) -> None:
    url = module_warehouse_url
    prefix, (silent, chatty), root = private_area(url, n_stations=2)
    offline_after, interval = 2.0, 0.5
    bridge = BridgeProcess(
        url,
        unique("bridge-health"),
        root,
        tmp_path,
        "--offline-after",
        str(offline_after),
        "--health-interval",
        str(interval),
    )

    def publish(station: str, count: int, offset: int) -> None:
        proc = publish_lines(f"{root}/stations/{station}/readings", make_lines(count, offset), unique("pub"))
        assert proc.wait(20) == 0, proc.stderr.read()

    try:
        bridge.start()
        publish(silent, 20, 0)
        publish(chatty, 20, 0)
        wait_for(lambda: count_rows(url, prefix) >= 40 * len(VALUES), 20, what="first readings")
        wait_for(
            lambda: all((health_row(url, s) or {}).get("messages_total") == 20 for s in (silent, chatty)),
            10,
            what="both stations in ops.sensor_health",
        )
        assert health_row(url, silent)["status"] == "online"

        # `silent` stops; `chatty` keeps sending (a reading every 0.3 s) and must stay online meanwhile.
        sent = 20
        deadline = time.monotonic() + offline_after + 10 * interval + 8
        while (health_row(url, silent) or {}).get("status") != "offline":
            assert time.monotonic() < deadline, (
                f"{silent} not marked offline: {health_row(url, silent)} (log {bridge.log_path})"
            )
            publish(chatty, 1, sent)
            sent += 1
            time.sleep(0.3)
        wait_for(lambda: health_row(url, chatty)["messages_total"] == sent, 10, what="chatty's last readings")
        chatty_row = health_row(url, chatty)
        assert chatty_row["status"] == "online" and chatty_row["offline_since"] is None

        row = health_row(url, silent)
        assert row["offline_since"] is not None
        # Marked offline only after `offline_after` of silence (database clock on both sides).
        assert row["offline_since"] - row["last_seen"] >= timedelta(seconds=offline_after)
        assert row["messages_total"] == 20
        assert bridge.metrics()["stations_marked_offline_total"] >= 1
        offline_lines = [line for line in bridge.log_text().splitlines() if "stations offline" in line]
        assert any(silent in line for line in offline_lines)
        assert not any(chatty in line for line in offline_lines)

        # A new reading brings it back: online, offline_since cleared, counters and timestamps advanced.
        publish(silent, 5, 100)
        wait_for(lambda: health_row(url, silent)["status"] == "online", 10, what=f"{silent} back online")
        back = health_row(url, silent)
        assert back["offline_since"] is None
        assert back["messages_total"] == 25
        assert back["last_seen"] > row["offline_since"]
        assert back["last_reading_ts"] == BASE_TS + timedelta(seconds=104)
        assert scalar(url, "SELECT count(*) FROM raw.sensor_readings WHERE station_id = %s", (silent,)) == (
            25 * len(VALUES)
        )
    finally:
        return_code = bridge.stop()
    assert return_code == 0
