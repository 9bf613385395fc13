"""Bench: QARTOD scoring + write of one daily core.readings partition, and the analyst's hourly-rollup query.

Prints ratios against limits measured in the same run (docs/performance.md):
* one day for 300 stations × 6 parameters at 15-minute steps (172,800 readings, plus 7 h of context):
  read raw + unify + score + write core.readings, against a raw COPY of the same rows (pre-serialised CSV,
  no Python work) into a hypertable shaped like core.readings;
* the hourly rollup of that day (mart.readings_hourly, server-side);
* the analyst query "one station, one year of hourly rollups" on a mart holding 100 stations × 6
  parameters × 8,760 hours (5.3 M rows), median of 7 runs.

Creates and drops its own database purehealth_bench_<random>. Run: .venv/bin/python bench/bench_quality.py
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pandas as pd
import psycopg
from _support import bench_database
from psycopg import sql

from purehealth_pipelines.marts.rollups import ROLLUPS, replace_rollup
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import CORE_READINGS_COLUMNS, score_window
from purehealth_pipelines.resources import WarehouseResource
from realtime_bridge.writer import copy_readings

STATIONS, STEP = 300, "15min"
PARAMETERS = {  # mean, diurnal amplitude, noise, unit
    "temp_c": (27.0, 1.5, 0.05, "°C"),
    "do_mg_l": (6.0, 1.0, 0.05, "mg/l"),
    "ph": (7.6, 0.2, 0.01, "pH"),
    "ec_us_cm": (600.0, 20.0, 2.0, "µS/cm"),
    "turbidity_ntu": (25.0, 3.0, 0.5, "NTU"),
    "do_sat_pct": (80.0, 10.0, 0.5, "%"),
}
DAY = pd.Timestamp("2024-06-10", tz="Asia/Kolkata")


def sensor_rows(rng: np.random.Generator) -> pd.DataFrame:
    ts = pd.date_range(DAY - pd.Timedelta(hours=6), DAY + pd.Timedelta(hours=25), freq=STEP, inclusive="left")
    phase = (ts.hour + ts.minute / 60.0) / 24.0 * 2 * np.pi
    frames = []
    for station in range(STATIONS):
        for parameter, (mean, amplitude, noise, unit) in PARAMETERS.items():
            values = mean + amplitude * np.cos(phase) + rng.normal(0, noise, len(ts))
            frames.append(
                pd.DataFrame(
                    {
                        "station_id": f"BENCH-{station:03d}",
                        "parameter": parameter,
                        "ts": ts,
                        "value": values,
                        "unit": unit,
                    }
                )
            )
    frame = pd.concat(frames, ignore_index=True)
    # a few faults so every test has work: spikes and a stuck sensor
    frame.loc[rng.choice(len(frame), 200, replace=False), "value"] += 50
    return frame


def raw_copy_limit(conn: psycopg.Connection, scored: pd.DataFrame) -> tuple[float, int]:
    """rows/s of COPY of pre-serialised CSV into a hypertable shaped like core.readings (same unique key)."""
    conn.execute("CREATE TABLE ops.bench_copy (LIKE core.readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    conn.execute("ALTER TABLE ops.bench_copy ADD UNIQUE (station_id, parameter, ts, source)")
    conn.execute("SELECT create_hypertable('ops.bench_copy', 'ts', chunk_time_interval => interval '7 days')")
    frame = scored[list(CORE_READINGS_COLUMNS)]
    payload = frame.to_csv(header=False, index=False).encode()
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    began = time.perf_counter()
    statement = sql.SQL("COPY ops.bench_copy ({}) FROM STDIN (FORMAT csv)").format(columns)
    with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
        for start in range(0, len(payload), 1 << 20):
            copy.write(payload[start : start + (1 << 20)])
    seconds = time.perf_counter() - began
    return len(frame) / seconds, len(frame)


def fill_hourly_mart(conn: psycopg.Connection, stations: int = 100) -> int:
    began = time.perf_counter()
    conn.execute(
        """INSERT INTO mart.readings_hourly (station_id, parameter, bucket, unit, value_mean, value_min,
                                             value_max, good_count, reading_count)
           SELECT 'YEAR-' || lpad(s::text, 3, '0'), p, h, 'u', random(), 0, 1, 4, 4
           FROM generate_series(1, %s) s,
                unnest(ARRAY['temp_c','do_mg_l','ph','ec_us_cm','turbidity_ntu','do_sat_pct']) p,
                generate_series('2023-01-01 00:00+05:30'::timestamptz, '2023-12-31 23:00+05:30',
                                interval '1 hour') h""",
        (stations,),
    )
    conn.execute(
        """INSERT INTO mart.readings_daily (station_id, parameter, bucket, unit, value_mean, value_min,
                                            value_max, good_count, reading_count)
           SELECT station_id, parameter, time_bucket('1 day', bucket, 'Asia/Kolkata'), 'u', avg(value_mean),
                  min(value_min), max(value_max), sum(good_count), sum(reading_count)
           FROM mart.readings_hourly GROUP BY 1, 2, 3"""
    )
    # What autovacuum does for these insert-mostly tables soon after a load: statistics and visibility map.
    conn.execute("VACUUM ANALYZE mart.readings_hourly")
    conn.execute("VACUUM ANALYZE mart.readings_daily")
    count = conn.execute("SELECT count(*) FROM mart.readings_hourly").fetchone()[0]
    print(
        f"  filled mart.readings_hourly with {count:,} rows in {time.perf_counter() - began:.1f}s", flush=True
    )
    return count


def time_query(conn: psycopg.Connection, query: str, params: tuple, runs: int = 7) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = len(conn.execute(query, params).fetchall())
        times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def main() -> int:
    with bench_database() as url:
        warehouse = WarehouseResource(url=url)
        config = load_config()
        rng = np.random.default_rng(42)
        raw = sensor_rows(rng)
        with warehouse.connect() as conn, conn.cursor() as cur:
            copy_readings(cur, raw)
        print(f"landed {len(raw):,} raw sensor readings (day + 6 h lookback + 1 h lookahead)")

        # warm-up on another day's (empty) window so imports and plans are not timed
        score_window(warehouse, DAY - pd.Timedelta(days=3), DAY - pd.Timedelta(days=2), config)
        began = time.perf_counter()
        scored, summary = score_window(warehouse, DAY, DAY + pd.Timedelta(days=1), config)
        total = time.perf_counter() - began
        with warehouse.connect() as conn:
            limit_rate, limit_rows = raw_copy_limit(conn, scored)
        rate = summary.rows_written / total
        print("\n== one daily partition of core.readings (300 stations, 6 parameters, 15 min) ==")
        print(f"  readings written          {summary.rows_written:,}  quality {summary.flag_counts}")
        print(
            f"  read {summary.seconds_read:.2f}s + unify/score {summary.seconds_score:.2f}s"
            f" + write {summary.seconds_write:.2f}s = {total:.2f}s end to end"
        )
        print(f"  end-to-end rate           {rate:,.0f} readings/s")
        print(
            f"  raw COPY limit (same run) {limit_rate:,.0f} rows/s ({limit_rows:,} rows, pre-serialised CSV)"
        )
        print(f"  RATIO score+write / raw COPY = {rate / limit_rate:.2f}")
        print(
            "  RATIO write only / raw COPY  = "
            f"{summary.rows_written / summary.seconds_write / limit_rate:.2f}"
        )

        with warehouse.connect() as conn:
            write = replace_rollup(conn, ROLLUPS["hourly"], DAY.to_pydatetime(), (DAY + pd.Timedelta(days=1)))
        print(f"\n== hourly rollup of that day: {write.rows_written:,} buckets in {write.seconds:.2f}s ==")

        print("\n== analyst query: one station-year of hourly rollups ==")
        with warehouse.connect() as conn:
            fill_hourly_mart(conn)
            query = (
                "SELECT parameter, bucket, value_mean, value_min, value_max, good_count FROM"
                " mart.readings_hourly"
                " WHERE station_id = %s AND bucket >= %s AND bucket < %s ORDER BY parameter, bucket"
            )
            params = (
                "YEAR-042",
                pd.Timestamp("2023-01-01", tz="Asia/Kolkata"),
                pd.Timestamp("2024-01-01", tz="Asia/Kolkata"),
            )
            seconds, rows = time_query(conn, query, params)
            one = time_query(
                conn, query.replace("station_id = %s", "station_id = %s AND parameter = 'do_mg_l'"), params
            )
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall()
            uses_index = any("Index" in line[0] for line in plan)
            server_ms = next(
                float(line[0].split()[2]) for line in plan if line[0].startswith("Execution Time")
            )
            daily = time_query(
                conn,
                query.replace("mart.readings_hourly", "mart.readings_daily"),
                params,
            )
            # the limit: the same number of rows read back from a plain heap with no filtering at all
            conn.execute(
                "CREATE TEMP TABLE bench_rows AS SELECT parameter, bucket, value_mean,"
                " value_min, value_max, good_count"
                " FROM mart.readings_hourly WHERE station_id = %s",
                ("YEAR-042",),
            )
            floor, _ = time_query(conn, "SELECT * FROM bench_rows", ())
        print(
            f"  all 6 parameters: {rows:,} rows in {seconds * 1000:.1f} ms (median of 7),"
            f" index scan: {uses_index}"
        )
        print(
            f"  of which server execution (EXPLAIN ANALYZE): {server_ms:.1f} ms; the rest is the client fetch"
        )
        print(f"  one parameter   : {one[1]:,} rows in {one[0] * 1000:.1f} ms")
        print(f"  daily rollup, all parameters: {daily[1]:,} rows in {daily[0] * 1000:.1f} ms")
        for line in plan:
            print(f"    | {line[0]}")
        print(
            f"  limit: full scan of a temp table holding just those rows {floor * 1000:.1f} ms;"
            f" RATIO query / limit = {seconds / floor:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
