"""Hourly / daily / weekly rollups of good readings, computed inside the database.

Why server-side: a day is ~173 k readings; aggregating them where they live (time_bucket + GROUP BY) and
writing the ~40 k hourly rows back in the same statement avoids shipping every reading to Python and back.
The replace semantics are the partition writer's: one transaction that locks the window, deletes its
buckets and inserts the new ones, so a re-run replaces and a failure leaves the old rollup in place.

Rollups read core.readings_preferred (one reading per station/parameter/instant, IoT first; NWMP annual
statistics excluded) and aggregate only good readings (qc_flag = 1); reading_count counts every preferred
reading in the bucket so completeness is visible. Buckets are IST (time_bucket with 'Asia/Kolkata').
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from purehealth_pipelines.vocabulary import TIMEZONE, QartodFlag
from purehealth_pipelines.warehouse.writer import qualified_name


@dataclass(frozen=True)
class Rollup:
    table: str
    width: str  # time_bucket width
    origin: str | None = None  # for weeks: align to the Dagster weekly partitions (Sunday)


ROLLUPS: dict[str, Rollup] = {
    "hourly": Rollup("mart.readings_hourly", "1 hour"),
    "daily": Rollup("mart.readings_daily", "1 day"),
    # Dagster's weekly partitions start on Sunday; 2024-01-07 was a Sunday.
    "weekly": Rollup("mart.readings_weekly", "7 days", origin="2024-01-07 00:00:00+05:30"),
}


def rollup_select(rollup: Rollup) -> sql.Composed:
    """SELECT producing the rollup rows for readings in [%(start)s, %(end)s)."""
    if rollup.origin:
        bucket = sql.SQL("time_bucket({}::interval, ts, {}, {}::timestamptz)").format(
            sql.Literal(rollup.width), sql.Literal(TIMEZONE), sql.Literal(rollup.origin)
        )
    else:
        bucket = sql.SQL("time_bucket({}::interval, ts, {})").format(
            sql.Literal(rollup.width), sql.Literal(TIMEZONE)
        )
    return sql.SQL(
        """SELECT station_id, parameter, {bucket} AS bucket, min(unit) AS unit,
                  avg(value) FILTER (WHERE qc_flag = {good}) AS value_mean,
                  min(value) FILTER (WHERE qc_flag = {good}) AS value_min,
                  max(value) FILTER (WHERE qc_flag = {good}) AS value_max,
                  count(*) FILTER (WHERE qc_flag = {good}) AS good_count,
                  count(*) AS reading_count
           FROM core.readings_preferred
           WHERE ts >= %(start)s AND ts < %(end)s
           GROUP BY station_id, parameter, 3"""
    ).format(bucket=bucket, good=sql.Literal(int(QartodFlag.PASS)))


@dataclass(frozen=True)
class RollupWrite:
    table: str
    rows_deleted: int
    rows_written: int
    seconds: float


def replace_rollup(conn: psycopg.Connection, rollup: Rollup, start: datetime, end: datetime) -> RollupWrite:
    """Recompute the buckets of [start, end) in one transaction (window locked, deleted, re-inserted)."""
    began = time.perf_counter()
    table = qualified_name(rollup.table)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{rollup.table}|{start.isoformat()}|{end.isoformat()}",),
        )
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE bucket >= %(start)s AND bucket < %(end)s").format(table),
            {"start": start, "end": end},
        )
        deleted = cur.rowcount
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (station_id, parameter, bucket, unit, value_mean, value_min, value_max,"
                " good_count, reading_count) {}"
            ).format(table, rollup_select(rollup)),
            {"start": start, "end": end},
        )
        written = cur.rowcount
    return RollupWrite(rollup.table, max(deleted, 0), written, time.perf_counter() - began)
