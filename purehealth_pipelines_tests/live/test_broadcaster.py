"""WebSocket broadcaster against the real PostgreSQL (LISTEN/NOTIFY) and, end to end, the real bridge and
broker: authentication, station filters, alerts, replay, and a stalled client dropped while others go on."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from purehealth_pipelines import settings
from purehealth_pipelines.live.channels import EVENTS_CHANNEL, READINGS_CHANNEL, load_secret, seal
from purehealth_pipelines_tests.live.helpers import (
    add_stations,
    count_rows,
    free_port,
    publish_lines,
    running_bridge,
    unique,
)
from realtime_bridge.broadcaster import CLOSE_TOO_SLOW, Broadcaster, BroadcasterConfig, sign_token
from realtime_bridge.simulator import reading_payload

pytestmark = pytest.mark.timeout(90)
TOKEN = "test-token-123"
SECRET = b"s3cret"


def analyst_url(url: str) -> str:
    """The same database as the read-only `analyst` login that `purehealth db migrate` creates."""
    params = conninfo_to_dict(url)
    params.update(user="analyst", password=settings.analyst_password())
    return make_conninfo(**params)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def start(url: str, **overrides) -> tuple[Broadcaster, asyncio.Future, asyncio.Task, str]:
    port = free_port()
    config = BroadcasterConfig(
        database_url=url, port=port, tokens=frozenset({TOKEN}), secret=SECRET, **overrides
    )
    broadcaster = Broadcaster(config)
    stop = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(broadcaster.serve(stop))
    await asyncio.wait_for(broadcaster.ready.wait(), 10)
    return broadcaster, stop, task, f"ws://127.0.0.1:{port}/"


async def shutdown(stop: asyncio.Future, task: asyncio.Task) -> None:
    stop.set_result(None)
    await asyncio.wait_for(task, 10)


async def receive_until(ws, predicate, timeout: float = 15) -> list[dict]:
    """Collect data messages (frames are JSON arrays) until predicate(messages) holds."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    while not predicate(messages):
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        decoded = json.loads(raw)
        messages.extend(decoded if isinstance(decoded, list) else [decoded])
    return messages


def test_unauthenticated_connections_are_refused(module_warehouse_url) -> None:
    async def scenario() -> None:
        broadcaster, stop, task, uri = await start(module_warehouse_url)
        try:
            for bad in (
                uri,
                uri + "?token=wrong",
                uri + "?token=" + sign_token(b"other", "x", int(time.time()) + 60),
                uri + "?token=" + sign_token(SECRET, "x", int(time.time()) - 1),
            ):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(bad, compression=None):
                        pass
                assert refused.value.response.status_code == 401
            async with connect(uri + "?token=" + TOKEN, compression=None) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            signed = sign_token(SECRET, "dashboard-7", int(time.time()) + 60)
            async with connect(
                uri, additional_headers={"Authorization": f"Bearer {signed}"}, compression=None
            ) as ws:
                assert json.loads(await ws.recv())["client"] == "dashboard-7"
            assert broadcaster.counters["auth_refused_total"] == 4
        finally:
            await shutdown(stop, task)

    run(scenario())


def test_station_filter_alerts_and_replay_end_to_end(module_warehouse_url, mqtt_broker, tmp_path) -> None:
    url = module_warehouse_url
    prefix = unique("W").upper()
    s1, s2 = f"{prefix}-1", f"{prefix}-2"
    add_stations(url, [s1, s2])
    root = f"test/{prefix}/purehealth/v1"
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)

    async def scenario() -> None:
        broadcaster, stop, task, uri = await start(url)
        try:
            async with (
                connect(f"{uri}?token={TOKEN}&stations={s1}", compression=None) as only_s1,
                connect(f"{uri}?token={TOKEN}", compression=None) as only_s2,
                connect(f"{uri}?token={TOKEN}&stations=*", compression=None) as everything,
            ):
                for ws in (only_s1, only_s2, everything):
                    assert json.loads(await ws.recv())["type"] == "hello"
                await only_s2.send(json.dumps({"action": "subscribe", "stations": [s2]}))
                assert json.loads(await only_s2.recv()) == {"type": "subscribed", "stations": [s2]}
                since = datetime.now(UTC)
                for station in (s1, s2):
                    lines = [
                        reading_payload(
                            station, base + timedelta(seconds=i), {"do_mg_l": 7.0, "ph": 7.5}, seq=i
                        )
                        for i in range(20)
                    ]
                    await asyncio.to_thread(
                        lambda s=station, ls=lines: publish_lines(
                            f"{root}/stations/{s}/readings", ls, unique("pub")
                        ).wait(20)
                    )
                got_s1 = await receive_until(only_s1, lambda m: len(m) >= 20)
                got_s2 = await receive_until(only_s2, lambda m: len(m) >= 20)
                got_all = await receive_until(everything, lambda m: len(m) >= 40)
                assert {m["station_id"] for m in got_s1} == {s1} and len(got_s1) == 20
                assert {m["station_id"] for m in got_s2} == {s2} and len(got_s2) == 20
                assert {m["station_id"] for m in got_all} == {s1, s2}
                assert all(
                    m["type"] == "reading" and m["values"] == {"do_mg_l": 7.0, "ph": 7.5} for m in got_all
                )
                # Forged events: the read-only analyst can NOTIFY any channel (PostgreSQL has no privilege
                # on channels), unsealed or sealed with a guessed key; none of it may reach a client.
                forged = json.dumps({"type": "alert", "station_id": s2, "level": "critical", "forged": True})
                with psycopg.connect(analyst_url(url), autocommit=True) as analyst:
                    analyst.execute("SELECT pg_notify('purehealth_events', %s)", (forged,))
                    analyst.execute(
                        "SELECT pg_notify('purehealth_events', %s)", (seal(b"guess", EVENTS_CHANNEL, forged),)
                    )
                    analyst.execute(
                        "SELECT pg_notify('purehealth_readings', %s)",
                        (
                            f"{s2}\t"
                            + json.dumps({"type": "reading", "station_id": s2, "values": {"do_mg_l": 0.0}}),
                        ),
                    )
                # Alerts/forecasts from other domains: sealed NOTIFY on purehealth_events.
                with psycopg.connect(url, autocommit=True) as conn:
                    body = json.dumps({"type": "alert", "station_id": s2, "level": "warning"})
                    conn.execute(
                        "SELECT pg_notify('purehealth_events', %s)",
                        (seal(load_secret(conn), EVENTS_CHANNEL, body),),
                    )
                alert = await receive_until(only_s2, lambda m: bool(m))
                assert alert[0]["type"] == "alert" and alert[0]["station_id"] == s2
                assert (
                    "forged" not in alert[0] and len(alert) == 1
                )  # the forged ones came first, and were dropped
                assert broadcaster.counters["notifications_refused_total"] == 3
                assert (await receive_until(everything, lambda m: bool(m)))[0]["type"] == "alert"
                # Nothing for s1's client: its next message is the replay answer, not the s2 alert.
                await only_s1.send(json.dumps({"action": "replay", "since": since.isoformat()}))
                replayed = await receive_until(
                    only_s1, lambda m: m and m[-1].get("type") == "replay_complete"
                )
                readings = [m for m in replayed if m["type"] == "reading"]
                assert len(readings) == 20 and {m["station_id"] for m in readings} == {s1}
                assert all(m["replay"] for m in readings)
                assert replayed[-1]["count"] == 20 and datetime.fromisoformat(replayed[-1]["until"]) > since
        finally:
            await shutdown(stop, task)

    with running_bridge(url, unique("bridge-ws"), root, tmp_path):
        run(scenario())
        assert count_rows(url, prefix) == 80


def test_replay_returns_missed_alerts_and_the_newest_forecast_for_the_clients_stations(
    module_warehouse_url,
) -> None:
    url = module_warehouse_url
    prefix = unique("R").upper()
    s1, s2 = f"{prefix}-1", f"{prefix}-2"
    add_stations(url, [s1, s2])
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(hours=1)
    with psycopg.connect(url, autocommit=True) as conn:
        for station, updated in ((s1, now), (s2, now), (s1, since - timedelta(hours=1))):
            conn.execute(
                """INSERT INTO mart.alerts (station_id, parameter, rule, severity, status, first_seen,
                                            last_seen, message, updated_at)
                   VALUES (%s, 'do_mg_l', %s, 'warning', 'resolved', %s, %s, 'DO below 4 mg/L', %s)""",
                (station, f"do_below_4_{updated:%H%M}", updated, updated, updated),
            )
        for issued in (since - timedelta(minutes=30), now - timedelta(minutes=15), now):
            for h in (1, 6):
                conn.execute(
                    """INSERT INTO mart.forecasts (station_id, parameter, issued_at, horizon_h, ts, origin_ts,
                                                   p10, p50, p90, station_group, model_version)
                       VALUES (%s, 'do_mg_l', %s, %s, %s, %s, 5, 6, 7, 'live', 'test')""",
                    (s1, issued, h, issued + timedelta(hours=h), issued),
                )

    async def scenario() -> None:
        _, stop, task, uri = await start(url)
        try:
            async with connect(f"{uri}?token={TOKEN}&stations={s1}", compression=None) as client:
                assert json.loads(await client.recv())["type"] == "hello"
                await client.send(json.dumps({"action": "replay", "since": since.isoformat()}))
                replayed = await receive_until(client, lambda m: m and m[-1].get("type") == "replay_complete")
                alerts = [m for m in replayed if m["type"] == "alert"]
                forecasts = [m for m in replayed if m["type"] == "forecast"]
                assert [(a["station_id"], a["rule"], a["replay"]) for a in alerts] == [
                    (s1, f"do_below_4_{now:%H%M}", True)
                ]
                assert set(alerts[0]) >= {"alert_id", "severity", "status", "first_seen", "message"}
                assert len(forecasts) == 1 and forecasts[0]["station_id"] == s1
                assert datetime.fromisoformat(forecasts[0]["issued_at"]) == now  # the newest issue only
                assert [h["h"] for h in forecasts[0]["horizons"]] == [1, 6]
                complete = replayed[-1]  # `count` is readings (none here), the other kinds beside it
                assert (complete["count"], complete["alerts"], complete["forecasts"]) == (0, 1, 1)
                assert complete["messages"] == 2
                await client.send(
                    json.dumps({"action": "replay", "since": since.isoformat(), "types": ["x"]})
                )
                error = await receive_until(client, lambda m: bool(m))
                assert error[0]["type"] == "error"
        finally:
            await shutdown(stop, task)

    run(scenario())


def test_a_stalled_client_is_dropped_while_others_keep_receiving(module_warehouse_url, caplog) -> None:
    url = module_warehouse_url
    station = unique("SLOW")
    add_stations(url, [station])
    caplog.set_level(logging.WARNING, logger="realtime_bridge.broadcaster")

    async def scenario() -> None:
        broadcaster, stop, task, uri = await start(
            url, max_pending_frames=20, max_pending_bytes=256 * 1024, send_buffer_bytes=8192, window_s=0.01
        )
        try:
            # The stalled client: a tiny receive buffer and it never reads.
            stalled_sock = socket.socket()
            stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled_sock.connect(("127.0.0.1", int(uri.rsplit(":", 1)[1].strip("/"))))
            stalled = await connect(
                f"{uri}?token={TOKEN}&stations={station}", sock=stalled_sock, compression=None, max_queue=1
            )
            healthy = await connect(f"{uri}?token={TOKEN}&stations={station}", compression=None)
            assert json.loads(await healthy.recv())["type"] == "hello"
            fragment = json.dumps(
                {
                    "type": "reading",
                    "station_id": station,
                    "ts": "2025-01-01T00:00:00+00:00",
                    "values": {"do_mg_l": 7.0},
                    "pad": "x" * 400,
                }
            )
            payload = "\n".join(
                [f"{station}\t{fragment}"] * 12
            )  # ~6 kB per notification, like a bridge batch
            received = 0

            async def drain_healthy() -> None:
                nonlocal received
                while received < 3000:
                    received += len(json.loads(await healthy.recv()))

            reader = asyncio.create_task(drain_healthy())
            with psycopg.connect(url, autocommit=True) as conn:
                sealed = seal(load_secret(conn), READINGS_CHANNEL, payload)
                for _ in range(250):
                    conn.execute("SELECT pg_notify('purehealth_readings', %s)", (sealed,))
                    await asyncio.sleep(0.002)
            await asyncio.wait_for(reader, 30)
            assert received == 3000  # the healthy client got everything
            assert broadcaster.counters["clients_dropped_slow_total"] == 1
            assert len(broadcaster.clients) == 1
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(stalled.recv(), 20)
            assert closed.value.rcvd is None or closed.value.rcvd.code == CLOSE_TOO_SLOW
            await healthy.close()
        finally:
            await shutdown(stop, task)

    run(scenario())
    assert any("dropping slow client" in r.getMessage() for r in caplog.records)


def test_protocol_gaps_no_stations_unknown_ids_station_health_and_replay_by_reading_time(
    module_warehouse_url,
) -> None:
    """Issue 14: no `stations` is said, unknown ids are named, health transitions are pushed, and a replay can
    go by reading time (a reconnect's default stays by commit time)."""
    url = module_warehouse_url
    prefix = unique("P").upper()
    live, quiet = f"{prefix}-1", f"{prefix}-2"
    add_stations(url, [live, quiet])
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO ops.sensor_health (station_id, status, last_seen) VALUES (%s, 'online', %s),
                                                                                (%s, 'online', %s)""",
            (live, now, quiet, now),
        )
        # Landed just now, measured three days ago (a backlog after start-up) and a minute ago.
        for measured in (now - timedelta(days=3), now - timedelta(minutes=1)):
            conn.execute(
                """INSERT INTO raw.sensor_messages (station_id, ts, parameters, "values")
                   VALUES (%s, %s, ARRAY['ph'], ARRAY[7.1])""",
                (live, measured),
            )

    async def scenario() -> None:
        _, stop, task, uri = await start(url, health_interval_s=0.2)
        try:
            async with connect(f"{uri}?token={TOKEN}", compression=None) as silent:
                hello = json.loads(await silent.recv())
                assert hello["stations"] == [] and "subscribed to no station" in hello["notice"]
                assert datetime.fromisoformat(hello["server_time"]).tzinfo is not None
            async with connect(f"{uri}?token={TOKEN}&stations={live},NOPE-1", compression=None) as ws:
                assert json.loads(await ws.recv())["stations"] == [live]
                error = json.loads(await ws.recv())
                assert error["type"] == "error" and error["unknown_stations"] == ["NOPE-1"]
                assert "NOPE-1" in error["error"]
                await ws.send(json.dumps({"action": "subscribe", "stations": [quiet, "NOPE-2", "NOPE-3"]}))
                assert json.loads(await ws.recv()) == {
                    "type": "subscribed",
                    "stations": sorted([live, quiet]),
                }
                assert json.loads(await ws.recv())["unknown_stations"] == ["NOPE-2", "NOPE-3"]
                await ws.send(json.dumps({"action": "stations"}))
                listed = json.loads(await ws.recv())
                assert listed["type"] == "stations"
                assert {(h["station_id"], h["status"]) for h in listed["stations"]} >= {
                    (live, "online"),
                    (quiet, "online"),
                }
                with psycopg.connect(url, autocommit=True) as conn:  # what the bridge's offline check does
                    conn.execute(
                        "UPDATE ops.sensor_health SET status = 'offline', offline_since = now() "
                        "WHERE station_id = %s",
                        (quiet,),
                    )
                pushed = await receive_until(ws, lambda m: any(x.get("type") == "station_health" for x in m))
                health = [m for m in pushed if m.get("type") == "station_health"]
                assert [(h["station_id"], h["status"]) for h in health] == [(quiet, "offline")]
                since = (now - timedelta(hours=1)).isoformat()
                for by, expected in (("ingested", 2), ("ts", 1)):
                    await ws.send(
                        json.dumps({"action": "replay", "since": since, "types": ["reading"], "by": by})
                    )
                    got = await receive_until(ws, lambda m: m and m[-1].get("type") == "replay_complete")
                    readings = [m for m in got if m.get("type") == "reading" and m["station_id"] == live]
                    assert len(readings) == expected and got[-1]["count"] == expected and got[-1]["by"] == by
        finally:
            await shutdown(stop, task)

    run(scenario())
