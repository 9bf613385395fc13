"""Compression ratio of the live path's tables on TimescaleDB Community, on the demo's live data.

    PUREHEALTH_WAREHOUSE_URL=postgresql://…community-server…/postgres python bench/bench_compression_ratio.py

The quick half of bench_compression_demo.py: the demo's 14 days of live-station history published over the
real broker and landed by a real bridge (`raw.sensor_messages`), `core/readings` scored day by day as its
daily partitions do, then every compression policy job run once (core.readings' chunks compressed by hand:
its policy waits 30 days); prints each table's size before/after, and the time to score a day 13 days back
again over compressed chunks against scoring it the first time. Throwaway database, broker credentials
withdrawn afterwards. Skips on the Apache-2 edition.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import bench_database, report
from bench_compression_demo import compress_now, free_port

from purehealth_pipelines import settings
from purehealth_pipelines.demo.sensor_history import seed_sensor_history
from purehealth_pipelines.devices import broker
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_window
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.warehouse.migrate import timescaledb_license

DAYS = 14


def main() -> int:
    with bench_database() as url:
        with psycopg.connect(url) as conn:
            license_ = timescaledb_license(conn)
        if license_ != "timescale":
            print(f"skipped: this server runs the TimescaleDB {license_!r} edition (no compression)")
            return 0
        try:
            return _measure(url)
        finally:
            broker.remove_fragment(broker.fragment_name(url))


def _measure(url: str) -> int:
    warehouse = WarehouseResource(url=url)
    registry = load_registry()
    warehouse.replace_table("ref.stations", registry)
    live = registry.loc[registry["network"] == "IOT", "station_id"].tolist()
    today = pd.Timestamp.now(tz="Asia/Kolkata").normalize()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    seed_sensor_history(
        url,
        live,
        end - timedelta(days=DAYS),
        end,
        mqtt_host=settings.mqtt_host(),
        mqtt_port=settings.mqtt_port(),
        quiet=True,
        client_id=f"bench-ratio-{uuid.uuid4().hex[:8]}",
        health_port=free_port(),
    )
    config = load_config()
    days = [today - pd.Timedelta(days=d) for d in range(DAYS, 0, -1)]
    first: dict[pd.Timestamp, float] = {}
    for day in days:
        began = time.perf_counter()
        score_window(warehouse, day, day + pd.Timedelta(days=1), config)
        first[day] = time.perf_counter() - began
    stats = compress_now(url)
    # 13 days back, a whole day: its raw chunks (7-day horizon) were compressed by the policy job; the
    # core.readings policy waits 30 days, so its chunks are compressed here as that policy will do later
    old_day = days[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('core.readings') c"
        )
    stats = {**stats, **{t: v for t, v in compress_now(url).items() if t == "core.readings"}}
    began = time.perf_counter()
    _, summary = score_window(warehouse, old_day, old_day + pd.Timedelta(days=1), config)
    again = time.perf_counter() - began
    rows = [
        (table, f"{before / 1e6:.2f} MB -> {after / 1e6:.2f} MB = {before / max(after, 1):.1f}x ({n} chunks)")
        for table, (n, before, after) in stats.items()
        if n
    ]
    rows += [(table, "nothing old enough to compress") for table, (n, _, _) in stats.items() if not n]
    rows += [
        (
            f"core/readings {old_day.date()} scored first ({summary.rows_written:,} rows)",
            f"{first[old_day]:.1f} s",
        ),
        (
            "the same day again, raw and core chunks compressed",
            f"{again:.1f} s = {again / first[old_day]:.2f}x",
        ),
    ]
    report(f"Compression on the demo's {DAYS} days of live data ({len(live)} stations)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
