"""The Dagster sensor over the live landing table (raw.sensor_messages, shown per reading as the view
raw.sensor_readings): a high-water mark on ingested_at -> daily partitions to score.

Why not simply `max(ingested_at)` as the cursor: ingested_at is `now()` of the bridge transaction that wrote
the row, i.e. its START time, and concurrent transactions commit out of order. A transaction that started at
10:00:00.100 may commit after one that started at 10:00:00.200; a cursor moved to .200 would skip the first
one's rows forever.

The mechanism here cannot skip a row:
1. In one statement, take the bound = least(now(), oldest xact_start among all other open transactions of
   this database) minus a small clock epsilon. Every transaction that started before the bound has already
   finished (committed or rolled back) — it was not in pg_stat_activity any more.
2. In a LATER statement (read committed: a fresh snapshot), select the rows with cursor <= ingested_at <
   bound. Their writers had all finished before this snapshot, so every such row is visible now, and no
   row with ingested_at < bound can ever appear later.
3. The new cursor is the bound. Intervals are half-open, so nothing is counted twice.
pg_stat_activity shows other roles' xact_start only to superusers or members of pg_read_all_stats: grant
that role to the Dagster user in production. As a belt and braces the bound is also at most now() minus
`SAFETY_LAG` (the bridge's own transactions are capped by statement_timeout = 60 s, writer.py).

The query returns only the distinct IST days touched (via the BRIN index on ingested_at); the table is
never loaded into memory.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg
import psycopg

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS, RAW_SENSOR_READINGS
from purehealth_pipelines.resources import WarehouseResource

SAFETY_LAG = timedelta(seconds=5)
CLOCK_EPSILON = timedelta(milliseconds=1)
EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")

_BOUND_SQL = """
SELECT least(now() - %(lag)s::interval,
             coalesce((SELECT min(xact_start) FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()
                          AND xact_start IS NOT NULL), 'infinity'::timestamptz)
            ) - %(epsilon)s::interval
"""
_DAYS_SQL = """
SELECT (ts AT TIME ZONE %(tz)s)::date AS day, count(*) AS messages, sum(cardinality(parameters)) AS readings
  FROM raw.sensor_messages
 WHERE ingested_at >= %(cursor)s AND ingested_at < %(bound)s
 GROUP BY day
 ORDER BY day
"""

# What the bridge lands, as an asset Dagster observes but does not materialise: the operator sees it in the
# lineage above core/readings, with its columns, and the sensor's observations (new messages per tick).
raw_sensor_readings_spec = dg.AssetSpec(
    RAW_SENSOR_READINGS,
    description=(
        "Live IoT readings landed by realtime_bridge from MQTT (purehealth/v1/stations/+/readings), "
        "exactly once, acknowledged only after COMMIT. Stored one row per message in raw.sensor_messages; "
        "raw.sensor_readings is the per-reading view core/readings reads. Not materialised by Dagster: the "
        "raw_sensor_readings_sensor records an observation for each window of newly committed messages."
    ),
    group_name="live",
    kinds={"timescaledb", "mqtt"},
    metadata={
        "dagster/table_name": "raw.sensor_readings",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("station_id", "text", description="from the MQTT topic; ref.stations"),
                dg.TableColumn("parameter", "text", description="ref.parameters.code"),
                dg.TableColumn("ts", "timestamptz", description="measurement time from the payload"),
                dg.TableColumn("value", "double precision"),
                dg.TableColumn("unit", "text", description="ref.parameters.unit (validated by the bridge)"),
                dg.TableColumn("sensor_id", "text", description="optional, from the payload"),
                dg.TableColumn("seq", "bigint", description="optional sensor sequence number"),
                dg.TableColumn("topic", "text"),
                dg.TableColumn("ingested_at", "timestamptz", description="start of the landing transaction"),
            ]
        ),
    },
)


@dataclass(frozen=True)
class Tick:
    """One evaluation: the days whose rows arrived in [cursor, bound), and the next cursor (= bound)."""

    cursor: datetime
    bound: datetime
    days: list[date]
    messages: int = 0  # landed in [cursor, bound)
    readings: int = 0


def parse_cursor(cursor: str | None) -> datetime:
    """The stored cursor (ISO-8601) or the epoch on the first evaluation."""
    return datetime.fromisoformat(cursor) if cursor else EPOCH


def partition_keys_for_days(days: Iterable[date], valid_keys: Iterable[str]) -> list[str]:
    """Daily partition keys ('YYYY-MM-DD', IST days) for the affected days that exist in the partition set."""
    valid = set(valid_keys)
    return sorted({day.isoformat() for day in days} & valid)


def evaluate(conn: psycopg.Connection, cursor: datetime, lag: timedelta = SAFETY_LAG) -> Tick:
    """Steps 1-2 of the module docstring; `conn` must be autocommit (each statement its own snapshot)."""
    bound = conn.execute(_BOUND_SQL, {"lag": lag, "epsilon": CLOCK_EPSILON}).fetchone()[0]
    if bound <= cursor:
        return Tick(cursor, cursor, [])
    rows = conn.execute(_DAYS_SQL, {"tz": partitions.TIMEZONE, "cursor": cursor, "bound": bound}).fetchall()
    return Tick(
        cursor,
        bound,
        [r[0] for r in rows],
        messages=sum(r[1] for r in rows),
        readings=sum(int(r[2]) for r in rows),
    )


live_readings_quality_job = dg.define_asset_job(
    "live_readings_quality_job",
    selection=dg.AssetSelection.assets(CORE_READINGS),
    partitions_def=partitions.daily,
    description="Quality-score the daily partitions of core.readings touched by new IoT sensor readings.",
)


@dg.sensor(
    job=live_readings_quality_job,
    minimum_interval_seconds=60,
    # On from the start: it is the live path's link into Dagster, and it only ever runs when readings landed.
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches raw.sensor_readings (landed by realtime_bridge) with a high-water mark on ingested_at that"
        " cannot skip late-committing transactions, and requests a quality-scoring run for each affected"
        " daily partition of core.readings."
    ),
)
def raw_sensor_readings_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    cursor = parse_cursor(context.cursor)
    with warehouse.connect() as conn:
        tick = evaluate(conn, cursor)
    if tick.bound == tick.cursor:
        return dg.SkipReason("no committed window to look at yet")
    now = datetime.now(tick.bound.tzinfo)
    keys = partition_keys_for_days(
        tick.days, partitions.daily.get_partition_keys(current_time=now + timedelta(days=2))
    )
    context.update_cursor(tick.bound.isoformat())
    if not keys:
        return dg.SkipReason(
            f"no new sensor readings in [{tick.cursor.isoformat()}, {tick.bound.isoformat()})"
        )
    context.log.info(
        "%d new messages (%d readings) in %d daily partitions: %s",
        tick.messages,
        tick.readings,
        len(keys),
        keys[:10],
    )
    waiting = queued_partitions(context.instance, keys)
    observation = dg.AssetObservation(
        asset_key=RAW_SENSOR_READINGS,
        metadata={
            "new_messages": dg.MetadataValue.int(tick.messages),
            "new_readings": dg.MetadataValue.int(tick.readings),
            "ingested_from": dg.MetadataValue.timestamp(tick.cursor),
            "ingested_until": dg.MetadataValue.timestamp(tick.bound),
            "partitions": dg.MetadataValue.text(", ".join(keys)),
        },
    )
    if waiting:
        context.log.info("already queued, not requested again: %s", sorted(waiting))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{key}@{tick.bound.isoformat()}", partition_key=key)
            for key in keys
            if key not in waiting
        ],
        asset_events=[observation],
    )


def queued_partitions(instance: dg.DagsterInstance, keys: list[str]) -> set[str]:
    """Partitions that already have a scoring run waiting to start.

    A run reads the landing table when it starts, so a queued run will also score what landed since it was
    requested; requesting another only piles runs up behind a slow one (seen: seven queued runs of today's
    partition while the machine was busy, each re-scoring the same day).
    """
    waiting = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=live_readings_quality_job.name,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
        ),
        limit=100,
    )
    return {run.tags.get("dagster/partition") for run in waiting} & set(keys)
