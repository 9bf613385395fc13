"""BatchWriter against the real database: the optimistic COPY and its ON CONFLICT fallback.

The bridge COPYs a batch straight into raw.sensor_readings inside a savepoint and, when the unique key
rejects it (a redelivered message), rolls back to the savepoint and goes through the staging table with
ON CONFLICT DO NOTHING. Both paths must land each reading exactly once and count new rows exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from purehealth_pipelines_tests.live.helpers import add_stations, scalar, unique
from realtime_bridge.simulator import reading_payload
from realtime_bridge.validation import TOPIC_PREFIX
from realtime_bridge.writer import BatchWriter, Inbound

VALUES = {"temp_c": 27.5, "ph": 7.6, "turbidity_ntu": 12.0}
BASE_TS = datetime(2025, 7, 1, tzinfo=UTC)


def message(station: str, i: int, mid: int) -> Inbound:
    payload = reading_payload("", BASE_TS + timedelta(seconds=i), {**VALUES, "ph": 7.0 + i / 100}, seq=i)
    return Inbound(f"{TOPIC_PREFIX}{station}/readings", payload, mid, 1, 1)


def rows(url: str, station: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT parameter, ts, value, unit, seq, topic FROM raw.sensor_readings"
            " WHERE station_id = %s ORDER BY ts, parameter",
            (station,),
        ).fetchall()


def test_direct_copy_then_redelivery_and_in_batch_duplicates_land_once(warehouse_url) -> None:
    station = unique("W").upper()
    add_stations(warehouse_url, [station])
    writer = BatchWriter(warehouse_url, notify=False)
    writer.connect()
    try:
        now = datetime.now(UTC)
        first = writer.write([message(station, i, i + 1) for i in range(10)], now)
        assert (first.rows_offered, first.rows_inserted) == (30, 30)  # the direct COPY path
        landed = rows(warehouse_url, station)
        assert len(landed) == 30
        wrong_units = scalar(
            warehouse_url,
            "SELECT count(*) FROM raw.sensor_readings r JOIN ref.parameters p ON p.code = r.parameter"
            " WHERE r.station_id = %s AND r.unit IS DISTINCT FROM p.unit",
            (station,),
        )
        assert wrong_units == 0
        assert landed[0][5] == f"purehealth/v1/stations/{station}/readings"

        # Redelivery of 5 committed messages plus 5 new ones, one of them twice in the same batch.
        mixed = [message(station, i, 100 + i) for i in range(5, 15)] + [message(station, 14, 200)]
        second = writer.write(mixed, now)
        assert (second.rows_offered, second.rows_inserted) == (33, 15)  # the fallback path
        assert len(rows(warehouse_url, station)) == 45

        # The connection is still usable for a plain batch afterwards (savepoint released/rolled back).
        third = writer.write([message(station, i, 300 + i) for i in range(15, 17)], now)
        assert third.rows_inserted == 6
        distinct_ts = scalar(
            warehouse_url,
            "SELECT count(DISTINCT ts) FROM raw.sensor_readings WHERE station_id = %s",
            (station,),
        )
        assert distinct_ts == 17
    finally:
        writer.close()
