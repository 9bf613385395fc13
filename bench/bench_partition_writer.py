"""Partition writer throughput as a ratio of raw COPY into the same hypertable, measured in the same run.

    python bench/bench_partition_writer.py [--rows 1000000] [--repeats 2]

The limit: COPY of pre-encoded bytes into core.readings (the hypertable with its unique key), timed from the
first byte to COMMIT, in both COPY formats: CSV and binary. The ratio is taken against the faster of the two,
so the writer is charged for all of its own encoding work. The writer: `write_partition` from a pandas
DataFrame, which also locks and deletes the window and encodes the frame. Both start from an empty table;
the best of `--repeats` runs of each is kept, alternating them so machine noise hits both.
Target (docs/performance.md): ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import bench_database, report

from purehealth_pipelines.warehouse import binary_copy
from purehealth_pipelines.warehouse.writer import table_column_types, write_partition

PARAMETERS = ["temp_c", "do_mg_l", "ph", "ec_us_cm", "turbidity_ntu"]


def readings(rows: int) -> pd.DataFrame:
    """300 stations x 5 parameters at 15-minute steps, as many days as `rows` needs."""
    stations = [f"BENCH-{i:03d}" for i in range(300)]
    steps = int(np.ceil(rows / (len(stations) * len(PARAMETERS))))
    ts = pd.date_range("2024-04-01", periods=steps, freq="15min", tz="UTC")
    index = pd.MultiIndex.from_product([stations, PARAMETERS, ts], names=["station_id", "parameter", "ts"])
    frame = index.to_frame(index=False).iloc[:rows]
    rng = np.random.default_rng(7)
    return frame.assign(source="iot", value=rng.normal(6, 1, len(frame)).round(3), unit="mg/L", qc_flag=1)


def raw_copy(url: str, payload: bytes, columns: list[str], fmt: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE core.readings")
        conn.commit()
        began = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY core.readings ({', '.join(columns)}) FROM STDIN (FORMAT {fmt})") as cp,
        ):
            for start in range(0, len(payload), 1 << 20):
                cp.write(payload[start : start + (1 << 20)])
        conn.commit()
        return time.perf_counter() - began


def writer(url: str, frame: pd.DataFrame) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE core.readings")
        began = time.perf_counter()
        write_partition(
            conn, "core.readings", frame, frame["ts"].min(), frame["ts"].max() + pd.Timedelta("15min")
        )
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    frame = readings(args.rows)
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False)
    payloads = {"csv": buffer.getvalue().encode()}
    with bench_database() as url:
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            types = table_column_types(cur, "core.readings")
        payloads["binary"] = binary_copy.encode(
            frame, [types[c] for c in frame.columns], header=True, trailer=True
        )
        raw_times: dict[str, list[float]] = {"csv": [], "binary": []}
        writer_times = []
        for _ in range(args.repeats):
            for fmt, payload in payloads.items():
                raw_times[fmt].append(raw_copy(url, payload, list(frame.columns), fmt))
            writer_times.append(writer(url, frame))
        with psycopg.connect(url, autocommit=True) as conn:
            began = time.perf_counter()
            write_partition(
                conn, "core.readings", frame, frame["ts"].min(), frame["ts"].max() + pd.Timedelta("15min")
            )
            replace_seconds = time.perf_counter() - began
    rates = {fmt: len(frame) / min(times) for fmt, times in raw_times.items()}
    raw_rate, writer_rate = max(rates.values()), len(frame) / min(writer_times)
    report(
        f"Partition writer vs raw COPY into core.readings (hypertable, unique key), {len(frame):,} rows",
        [
            ("raw COPY, pre-encoded CSV", f"{rates['csv']:,.0f} rows/s"),
            ("raw COPY, pre-encoded binary", f"{rates['binary']:,.0f} rows/s"),
            ("limit = the faster of the two", f"{raw_rate:,.0f} rows/s"),
            ("write_partition, empty window", f"{writer_rate:,.0f} rows/s"),
            ("ratio (target >= 0.70)", f"{writer_rate / raw_rate:.2f}"),
            (
                "write_partition, replacing the same window",
                f"{len(frame) / replace_seconds:,.0f} rows/s "
                f"(ratio {len(frame) / replace_seconds / raw_rate:.2f}; deletes {len(frame):,} rows first)",
            ),
        ],
    )


if __name__ == "__main__":
    main()
