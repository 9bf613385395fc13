"""BatchWriter against the real database: the optimistic COPY and its ON CONFLICT fallback.

The bridge COPYs a batch (one row per message) straight into raw.sensor_messages inside a savepoint and,
when the unique key rejects it (a redelivered message), rolls back to the savepoint and goes through the
staging table with ON CONFLICT DO NOTHING. Both paths must land each reading exactly once and count new rows
exactly; a different message under a stored key is dead-lettered, not dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from purehealth_pipelines.live.channels import load_secret, unseal
from purehealth_pipelines_tests.live.helpers import add_stations, scalar, unique
from realtime_bridge.simulator import reading_payload
from realtime_bridge.validation import TOPIC_PREFIX
from realtime_bridge.writer import BatchWriter, Inbound

VALUES = {"temp_c": 27.5, "ph": 7.6, "turbidity_ntu": 12.0}
BASE_TS = datetime(2025, 7, 1, tzinfo=UTC)


def message(station: str, i: int, mid: int) -> Inbound:
    payload = reading_payload("", BASE_TS + timedelta(seconds=i), {**VALUES, "ph": 7.0 + i / 100}, seq=i)
    return Inbound(f"{TOPIC_PREFIX}{station}/readings", payload, mid, 1, 1)


@pytest.fixture
def station(warehouse_url) -> str:
    """A registered station of this test's own."""
    name = unique("W").upper()
    add_stations(warehouse_url, [name])
    return name


@pytest.fixture
def writer(warehouse_url) -> Iterator[BatchWriter]:
    """A connected writer that notifies, as the bridge runs it."""
    batch_writer = BatchWriter(warehouse_url, notify=True)
    batch_writer.connect()
    yield batch_writer
    batch_writer.close()


def rows(url: str, station: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT parameter, ts, value, unit, seq, topic FROM raw.sensor_readings"
            " WHERE station_id = %s ORDER BY ts, parameter",
            (station,),
        ).fetchall()


def test_direct_copy_then_redelivery_and_in_batch_duplicates_land_once(
    warehouse_url, station, writer
) -> None:
    now = datetime.now(UTC)
    first = writer.write([message(station, i, i + 1) for i in range(10)], now)
    assert (first.rows_offered, first.rows_inserted) == (30, 30)  # the direct COPY path
    landed = rows(warehouse_url, station)
    assert len(landed) == 30
    messages = scalar(
        warehouse_url, "SELECT count(*) FROM raw.sensor_messages WHERE station_id = %s", (station,)
    )
    assert messages == 10
    # The per-reading view: one row per value, unit from ref.parameters, the topic as it always read.
    topic = f"purehealth/v1/stations/{station}/readings"
    assert landed[:3] == [
        ("ph", BASE_TS, 7.0, "pH units", 0, topic),
        ("temp_c", BASE_TS, 27.5, "°C", 0, topic),
        ("turbidity_ntu", BASE_TS, 12.0, "NTU", 0, topic),
    ]

    # Redelivery of 5 committed messages plus 5 new ones, one of them twice in the same batch.
    mixed = [message(station, i, 100 + i) for i in range(5, 15)] + [message(station, 14, 200)]
    second = writer.write(mixed, now)
    assert (second.rows_offered, second.rows_inserted) == (33, 15)  # the fallback path
    assert len(rows(warehouse_url, station)) == 45

    # The connection is still usable for a plain batch afterwards (savepoint released/rolled back).
    third = writer.write([message(station, i, 300 + i) for i in range(15, 17)], now)
    assert third.rows_inserted == 6
    distinct_ts = scalar(
        warehouse_url, "SELECT count(DISTINCT ts) FROM raw.sensor_readings WHERE station_id = %s", (station,)
    )
    assert distinct_ts == 17


def test_a_different_message_under_a_stored_key_is_dead_lettered_not_dropped(
    warehouse_url, station, writer
) -> None:
    now = datetime.now(UTC)
    writer.write([message(station, 0, 1)], now)
    changed = reading_payload("", BASE_TS, {**VALUES, "ph": 9.9}, seq=0)  # same station and ts
    result = writer.write(
        [message(station, 0, 2), Inbound(f"{TOPIC_PREFIX}{station}/readings", changed, 3, 1, 1)], now
    )
    assert (result.rows_inserted, result.readings, result.dead_letters) == (0, 1, 1)
    assert result.reasons == {"conflicting_duplicate": 1}
    with psycopg.connect(warehouse_url) as conn:
        letters = conn.execute(
            "SELECT reason, payload FROM ops.dead_letters WHERE origin = %s",
            (f"{TOPIC_PREFIX}{station}/readings",),
        ).fetchall()
    assert letters == [("conflicting_duplicate", changed.decode())]
    assert [r[2] for r in rows(warehouse_url, station) if r[0] == "ph"] == [7.0]  # the first one stays


def test_redelivered_messages_are_not_broadcast_again(warehouse_url, station, writer) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as listener:
        listener.execute("LISTEN purehealth_readings")
        now = datetime.now(UTC)
        writer.write([message(station, i, i + 1) for i in range(3)], now)
        second = writer.write([message(station, i, 10 + i) for i in range(1, 5)], now)  # 1, 2 again
        secret = load_secret(listener)
        payloads = [unseal(secret, n.channel, n.payload) for n in listener.notifies(timeout=2, stop_after=2)]
    assert second.rows_inserted == 6
    lines = [line for payload in payloads for line in payload.split("\n")]
    assert [json.loads(line.split("\t", 1)[1])["seq"] for line in lines] == [0, 1, 2, 3, 4]


def test_a_lab_only_station_cannot_publish(warehouse_url, writer) -> None:
    """An NWMP station is registered but has no sensor: a reading for it is forged or misaddressed."""
    lab = unique("NWMP").upper()
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(
            "INSERT INTO ref.stations (station_id, name, network) VALUES (%s, 'lab-only', 'NWMP')", (lab,)
        )
    writer.refresh_catalog()
    result = writer.write([message(lab, 0, 1)], datetime.now(UTC))
    assert (result.rows_inserted, result.dead_letters) == (0, 1)
    assert result.reasons == {"not_a_live_station": 1}
    assert rows(warehouse_url, lab) == []
    with psycopg.connect(warehouse_url) as conn:
        reasons = conn.execute(
            "SELECT reason FROM ops.dead_letters WHERE origin = %s", (f"{TOPIC_PREFIX}{lab}/readings",)
        ).fetchall()
    assert reasons == [("not_a_live_station",)]
