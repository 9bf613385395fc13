"""A partition re-write over compressed chunks (TimescaleDB Community) against the same re-write uncompressed.

    PUREHEALTH_WAREHOUSE_URL=postgresql://…community-server…/purehealth \\
        python bench/bench_compressed_rewrite.py [--stations 300] [--repeats 2]

On the Apache-2 edition (what Debian ships and `scripts/services.sh` installs) there is no compression: the
script says so and exits 0.

One 7-day chunk of core.readings (stations x 5 parameters x 15 min: 1.0 M rows at 300 stations) is loaded in
a window far older than the compression horizon. Then a daily partition (1/7 of the chunk) and the whole
week are re-written through `write_partition`:
  - the limit, measured in the same run: the same re-write while the chunk is uncompressed;
  - over the compressed chunk with each strategy of warehouse.compression (`lift_limit`, `decompress`).
The chunk is compressed (as the policy would) before every compressed run; that compression is timed
separately, since the policy pays it later, outside the write. Every run starts from the same freshly loaded
(and, for the compressed runs, freshly compressed) chunk. Best of `--repeats`.
Also printed: the chunk's size before and after compression (the compression ratio of core.readings here).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import bench_database, report

from purehealth_pipelines.warehouse.compression import STRATEGIES
from purehealth_pipelines.warehouse.migrate import timescaledb_license
from purehealth_pipelines.warehouse.writer import write_partition

PARAMETERS = ["temp_c", "do_mg_l", "ph", "ec_us_cm", "turbidity_ntu"]
CHUNK_START = datetime(
    2024, 1, 4, tzinfo=UTC
)  # a core.readings chunk boundary (7-day chunks from a Thursday)


def readings(stations: int, start: datetime, days: int, seed: int) -> pd.DataFrame:
    ids = [f"BENCH-{i:03d}" for i in range(stations)]
    ts = pd.date_range(start, periods=days * 96, freq="15min", tz="UTC")
    frame = pd.MultiIndex.from_product(
        [ids, PARAMETERS, ts], names=["station_id", "parameter", "ts"]
    ).to_frame(index=False)
    rng = np.random.default_rng(seed)
    return frame.assign(source="iot", value=rng.normal(6, 1, len(frame)).round(3), unit="mg/L", qc_flag=1)


def chunk_bytes(url: str) -> tuple[int, int]:
    """(bytes before compression, bytes now) of the bench chunk."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(before_compression_total_bytes, 0), coalesce(after_compression_total_bytes, 0)"
            " FROM chunk_compression_stats('core.readings') WHERE compression_status = 'Compressed'"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def compress(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('core.readings') c"
        )
        return time.perf_counter() - began


def fresh(url: str, week: pd.DataFrame) -> None:
    """Empty core.readings and load the week again (untimed), so no run inherits another's dead tuples."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE core.readings")
        write_partition(conn, "core.readings", week, CHUNK_START, CHUNK_START + timedelta(days=7))
        conn.execute("VACUUM ANALYZE core.readings")


def rewrite(
    url: str, frame: pd.DataFrame, start: datetime, end: datetime, strategy: str
) -> tuple[float, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        done = write_partition(conn, "core.readings", frame, start, end, compressed=strategy)
        return time.perf_counter() - began, done.compressed_chunks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    week = readings(args.stations, CHUNK_START, 7, seed=1)
    windows = {
        "day": (CHUNK_START + timedelta(days=3), CHUNK_START + timedelta(days=4)),
        "week": (CHUNK_START, CHUNK_START + timedelta(days=7)),
    }
    with bench_database() as url:  # a throwaway database on the server PUREHEALTH_WAREHOUSE_URL names
        with psycopg.connect(url, autocommit=True) as conn:
            license_ = timescaledb_license(conn)
            if license_ != "timescale":
                print(
                    f"skipped: this server runs the TimescaleDB {license_!r} edition, which has no"
                    " compression (a re-write there is the plain replace bench_partition_writer.py measures);"
                    " point PUREHEALTH_WAREHOUSE_URL at a TimescaleDB Community server to run this bench"
                )
                return
        times: dict[tuple[str, str], list[float]] = {}
        recompress: list[float] = []
        sizes = (0, 0)
        for repeat in range(args.repeats):
            for name, (start, end) in windows.items():
                part = readings(args.stations, start, (end - start).days, seed=10 + repeat)
                for mode in ("uncompressed", *STRATEGIES):
                    fresh(url, week)  # every run starts from the same freshly loaded chunk
                    if mode != "uncompressed":
                        recompress.append(compress(url))
                        sizes = sizes if sizes[0] else chunk_bytes(url)
                    seconds, chunks = rewrite(
                        url, part, start, end, "lift_limit" if mode == "uncompressed" else mode
                    )
                    assert chunks == (0 if mode == "uncompressed" else 1), (mode, chunks)
                    times.setdefault((name, mode), []).append(seconds)
    rows = [
        (
            "core.readings chunk, uncompressed -> compressed",
            f"{sizes[0] / 1e6:.1f} MB -> {sizes[1] / 1e6:.1f} MB (ratio {sizes[0] / max(sizes[1], 1):.1f}x)",
        )
    ]
    for name, (start, end) in windows.items():
        n = len(week) * (end - start).days // 7
        base = min(times[(name, "uncompressed")])
        rows.append(
            (
                f"{name} ({n:,} rows): re-write, uncompressed chunk (limit)",
                f"{base:.2f} s ({n / base:,.0f} rows/s)",
            )
        )
        for strategy in STRATEGIES:
            best = min(times[(name, strategy)])
            rows.append(
                (
                    f"{name}: re-write over compressed chunk, {strategy}",
                    f"{best:.2f} s = {best / base:.2f}x the limit",
                )
            )
    rows.append(("compressing the chunk (the policy's cost, later)", f"{min(recompress):.2f} s"))
    report(f"Re-writing a window in a compressed chunk of core.readings, {len(week):,}-row chunk", rows)


if __name__ == "__main__":
    main()
