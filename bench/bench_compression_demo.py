"""`make demo`'s materialisation twice on TimescaleDB Community, with the chunks compressed in between.

    PUREHEALTH_WAREHOUSE_URL=postgresql://…community-server…/postgres python bench/bench_compression_demo.py

Reported before this fix: on Community a second `make demo` over compressed chunks failed in `core/readings`
(`tuple decompression limit exceeded`). This runs what `make demo` runs — live-station history published
over the real broker and landed by a real bridge, then every asset in dependency order (demo_cli's
`run_pipeline`) — in a throwaway database on the server PUREHEALTH_WAREHOUSE_URL names (never the demo's
`purehealth`), with an ephemeral Dagster instance (never purehealth_dagster). Between the two runs every
compression policy job is run once (`CALL run_job`), which is what the policies do on their schedule.
Prints each compressed table's size before/after compression (the ratio) and both runs' durations (the second
re-writes every window, over compressed chunks); exits 1 if an asset failed or a table's row count changed.
On the Apache-2 edition it says so and exits 0.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import bench_database, report

import purehealth_pipelines.definitions as location
from purehealth_pipelines import settings
from purehealth_pipelines.demo.cli import DEMO_WINDOWS, run_pipeline
from purehealth_pipelines.demo.sensor_history import seed_sensor_history
from purehealth_pipelines.devices import broker
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.warehouse.backup import table_counts
from purehealth_pipelines.warehouse.migrate import timescaledb_license

GROWING = (
    "ml.models",
    "core.qc_climatology",
    "core.qc_drift_reference",
    "mart.forecasts",
    "mart.forecast_alerts",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compress_now(url: str) -> dict[str, tuple[int, int, int]]:
    """Run every compression policy job once; per table (chunks compressed, bytes before, bytes after)."""
    with psycopg.connect(url, autocommit=True) as conn:
        jobs = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'"
        ).fetchall()
        for (job_id,) in jobs:
            conn.execute("CALL run_job(%s)", (job_id,))
        rows = conn.execute(
            """SELECT h.hypertable_schema || '.' || h.hypertable_name, s.number_compressed_chunks,
                      s.before_compression_total_bytes, s.after_compression_total_bytes
                 FROM timescaledb_information.hypertables h,
                      LATERAL hypertable_compression_stats(format('%I.%I', h.hypertable_schema,
                                                                  h.hypertable_name)::regclass) s
                WHERE h.compression_enabled ORDER BY 1"""
        ).fetchall()
    return {t: (int(n or 0), int(b or 0), int(a or 0)) for t, n, b, a in rows}


def main() -> int:
    os.environ["PUREHEALTH_REPORTS_DIR"] = tempfile.mkdtemp(prefix="bench-demo-reports-")
    with bench_database() as url:
        with psycopg.connect(url) as conn:
            license_ = timescaledb_license(conn)
        if license_ != "timescale":
            print(f"skipped: this server runs the TimescaleDB {license_!r} edition (no compression)")
            return 0
        try:
            return _twice(url)
        finally:  # the seeding issued per-station broker credentials for this database: withdraw them
            broker.remove_fragment(broker.fragment_name(url))


def _twice(url: str) -> int:
    """Seed, run everything, compress, run everything again; print the figures; 1 if anything broke."""
    warehouse = WarehouseResource(url=url)
    registry = load_registry()
    warehouse.replace_table("ref.stations", registry)
    live = registry.loc[registry["network"] == "IOT", "station_id"].tolist()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    seed_sensor_history(
        url,
        live,
        end - timedelta(days=DEMO_WINDOWS["@daily"]),
        end,
        mqtt_host=settings.mqtt_host(),
        mqtt_port=settings.mqtt_port(),
        quiet=True,
        client_id=f"bench-demo-{uuid.uuid4().hex[:8]}",
        health_port=free_port(),
    )
    durations, failed = [], []
    with dg.instance_for_test() as instance:
        for run in (1, 2):
            began = time.perf_counter()
            results = run_pipeline(location.defs, instance, {"warehouse": warehouse}, quiet=True)
            durations.append(time.perf_counter() - began)
            failed += [f"run {run}: {r.step.label}" for r in results if not r.success]
            if run == 1:
                with psycopg.connect(url) as conn:
                    counts_first = table_counts(conn, "warehouse")
                stats = compress_now(url)
    with psycopg.connect(url) as conn:
        counts_second = table_counts(conn, "warehouse")
    for table in GROWING:
        counts_first.pop(table, None), counts_second.pop(table, None)
    changed = {t: (n, counts_second.get(t)) for t, n in counts_first.items() if counts_second.get(t) != n}
    rows = [
        (table, f"{before / 1e6:.1f} MB -> {after / 1e6:.2f} MB = {before / after:.1f}x ({chunks} chunks)")
        for table, (chunks, before, after) in stats.items()
        if chunks
    ]
    rows += [
        (table, "nothing old enough to compress") for table, (chunks, _, _) in stats.items() if not chunks
    ]
    rows += [
        ("demo run 1 (fresh warehouse)", f"{durations[0]:.0f} s"),
        ("demo run 2 (every window re-written, over compressed chunks)", f"{durations[1]:.0f} s"),
        ("assets failed", ", ".join(failed) or "none"),
        ("tables whose row count changed between the runs", str(changed or "none")),
    ]
    report("Demo materialisation twice on TimescaleDB Community, compressed in between", rows)
    return 1 if failed or changed else 0


if __name__ == "__main__":
    sys.exit(main())
