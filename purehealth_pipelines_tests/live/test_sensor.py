"""The raw.sensor_readings sensor: a high-water mark that cannot skip late commits; partition keys; runs."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from purehealth_pipelines import partitions
from purehealth_pipelines.live.sensor import (
    EPOCH,
    evaluate,
    live_readings_quality_job,
    parse_cursor,
    partition_keys_for_days,
    raw_sensor_readings_sensor,
)
from purehealth_pipelines.resources import WarehouseResource

NO_LAG = timedelta(0)


def insert(conn: psycopg.Connection, station: str, ts: datetime) -> None:
    conn.execute(
        'INSERT INTO raw.sensor_messages (station_id, ts, parameters, "values")'
        " VALUES (%s, %s, '{ph,do_mg_l}', '{7,6.5}')",
        (station, ts),
    )


def test_partition_keys_are_ist_days_within_the_partition_set() -> None:
    valid = partitions.daily.get_partition_keys(current_time=datetime(2025, 1, 10, tzinfo=UTC))
    days = [date(2025, 1, 3), date(2025, 1, 3), date(2023, 5, 1), date(2030, 1, 1), date(2025, 1, 5)]
    assert partition_keys_for_days(days, valid) == ["2025-01-03", "2025-01-05"]
    assert parse_cursor(None) == EPOCH
    assert parse_cursor("2025-01-01T00:00:00+00:00") == datetime(2025, 1, 1, tzinfo=UTC)


def test_high_water_mark_never_skips_a_transaction_that_commits_late(module_warehouse_url) -> None:
    url = module_warehouse_url
    with psycopg.connect(url, autocommit=True) as observer:
        # Create the day chunks first: TimescaleDB chunk creation would make the writers wait on each other.
        for day in (1, 2):
            insert(observer, "HWM-WARMUP", datetime(2025, 3, day, 12, tzinfo=UTC))
        start = evaluate(observer, EPOCH, NO_LAG).bound
        # A slow writer starts first (ingested_at = its start time) and commits last.
        slow = psycopg.connect(url)
        insert(slow, "HWM-SLOW", datetime(2025, 3, 1, 12, tzinfo=UTC))
        with psycopg.connect(url, autocommit=True) as fast:
            insert(fast, "HWM-FAST", datetime(2025, 3, 2, 12, tzinfo=UTC))
        first = evaluate(observer, start, NO_LAG)
        slow_started = slow.execute("SELECT now()").fetchone()[0]
        assert first.bound < slow_started  # the open transaction holds the mark back...
        assert first.days == []  # ...so the fast row (ingested after it) waits too
        slow.commit()
        slow.close()
        second = evaluate(observer, first.bound, NO_LAG)
        # IST days: 12:00 UTC is 17:30 IST the same day.
        assert second.days == [date(2025, 3, 1), date(2025, 3, 2)]
        rows = observer.execute(
            "SELECT count(*) FROM raw.sensor_messages WHERE ingested_at >= %s AND ingested_at < %s",
            (first.bound, second.bound),
        ).fetchone()[0]
        assert rows == 2  # both writers' rows, the late committer's included
        third = evaluate(observer, second.bound, NO_LAG)
        assert third.days == []  # half-open windows: nothing counted twice


def test_sensor_requests_runs_for_affected_daily_partitions(module_warehouse_url) -> None:
    url = module_warehouse_url

    @dg.asset(key=["core", "readings"], partitions_def=partitions.daily)
    def core_readings_stub() -> None:
        return None

    defs = dg.Definitions(
        assets=[core_readings_stub],
        jobs=[live_readings_quality_job],
        sensors=[raw_sensor_readings_sensor],
        resources={"warehouse": WarehouseResource(url=url)},
    )
    assert defs.resolve_job_def("live_readings_quality_job") is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM raw.sensor_messages")
        insert(conn, "SENSOR-1", datetime(2025, 4, 1, 20, tzinfo=UTC))  # 01:30 IST on 2 April
        insert(conn, "SENSOR-1", datetime(2025, 4, 3, 6, tzinfo=UTC))
    # Read the rows only once the safety lag has passed (the sensor's default).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE raw.sensor_messages SET ingested_at = now() - interval '1 minute'")
    resources = {"warehouse": WarehouseResource(url=url)}
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=None, definitions=defs, resources=resources
        )
        result = raw_sensor_readings_sensor(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["2025-04-02", "2025-04-03"]
        # The landing table is observed in the asset catalog: what this tick saw.
        [observation] = result.asset_events
        assert observation.asset_key == dg.AssetKey(["raw", "sensor_readings"])
        assert observation.metadata["new_messages"].value == 2
        assert observation.metadata["new_readings"].value == 4  # two parameters per message
        assert observation.metadata["partitions"].value == "2025-04-02, 2025-04-03"
        cursor = context.cursor
        assert cursor is not None
        again = raw_sensor_readings_sensor(
            dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
        )
        assert isinstance(again, dg.SkipReason)


@pytest.mark.parametrize("bad", ["not-a-date"])
def test_bad_cursor_is_an_error_not_a_silent_reset(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cursor(bad)
