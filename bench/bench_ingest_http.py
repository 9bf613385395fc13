"""HTTP ingest benchmark: readings/s through `purehealth api` as a ratio to a bare COPY of the same rows.

One run, on the same machine, seconds apart:
1. the database's limit: one text COPY of the same 5-parameter messages into raw.sensor_messages
   (bench_live.db_copy_limit, the bridge's yardstick too);
2. single-message ingest: N keep-alive clients (one sensor credential and station each, one thread each)
   each POSTing one message per request to /ingest/v1/stations/{id}/readings;
3. batch ingest: the same clients POSTing arrays of --batch messages to .../readings/batch.
Every request carries a real bearer token (checked against ops.devices), is validated, lands in one
transaction with its sealed NOTIFY, and is answered after COMMIT. The server is a real `purehealth api`
process (its ingest pool: PUREHEALTH_INGEST_POOL_SIZE, default 2); the rate limit is lifted for the run.
Single-message requests are also compared with the commit limit: as many sessions as the pool each
committing one message per transaction, since every such request waits for its own durable COMMIT.
On a 2-core machine the clients, the server and PostgreSQL share the cores: the ratio is what one box does.

    .venv/bin/python bench/bench_ingest_http.py [--clients 8] [--single 4000] [--batch-messages 40000]
It creates and drops its own database (purehealth_bench_<random>).
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import bench_database, report
from bench_live import db_copy_limit

from purehealth_pipelines import settings
from purehealth_pipelines.api.db import analyst_url
from purehealth_pipelines.devices import registry
from purehealth_pipelines_tests.live.helpers import add_stations, free_port

VALUES = {"temp_c": 27.31, "do_mg_l": 6.82, "ph": 7.61, "ec_us_cm": 412.5, "turbidity_ntu": 12.4}
PARAMETERS = len(VALUES)


def start_api(url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(settings.project_root()),
        "PUREHEALTH_API_DATABASE_URL": analyst_url(url),
        "PUREHEALTH_INGEST_DATABASE_URL": url,
        "PUREHEALTH_INGEST_RATE": "1e9",
        "PUREHEALTH_INGEST_BURST": "1e9",
    }
    command = [
        sys.executable,
        "-m",
        "purehealth_pipelines.cli",
        "api",
        "--port",
        str(port),
        "--ws-url",
        "none",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("purehealth api did not answer")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_limit(url: str, connections: int, per_connection: int) -> float:
    """Commits/s of `connections` sessions each landing one message per transaction (COPY-free INSERT).

    The yardstick for one-message requests: each is answered only after its own durable COMMIT, so their
    rate is bound by how many commits (WAL flushes, grouped across sessions) the disk takes, not by COPY.
    """
    base = datetime(2030, 1, 1, tzinfo=UTC)
    barrier = threading.Barrier(connections + 1)

    def session(index: int) -> None:
        with psycopg.connect(url) as conn:
            barrier.wait()
            for i in range(per_connection):
                conn.execute(
                    'INSERT INTO raw.sensor_messages (station_id, ts, parameters, "values", seq)'
                    " VALUES (%s, %s, %s, %s, %s)",
                    (
                        f"BENCH-C{index:03d}",
                        base + timedelta(seconds=i),
                        list(VALUES),
                        list(VALUES.values()),
                        i,
                    ),
                )
                conn.commit()

    threads = [threading.Thread(target=session, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM raw.sensor_messages WHERE ts >= %s", (base,))
    return connections * per_connection / elapsed


def messages_for(client: int, count: int, offset_s: int) -> list[dict]:
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    return [
        {"ts": (base + timedelta(seconds=i)).isoformat(), "values": VALUES, "seq": i} for i in range(count)
    ]


def run_clients(
    port: int, tokens: list[tuple[str, str]], per_client: list[list[bytes]], path_suffix: str
) -> tuple[float, dict[int, int]]:
    """Each client POSTs its bodies over one keep-alive connection; returns (seconds, status counts)."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(len(tokens) + 1)

    def client(index: int) -> None:
        station, token = tokens[index]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        path = f"/ingest/v1/stations/{station}/readings{path_suffix}"
        seen: dict[int, int] = {}
        start.wait()
        for body in per_client[index]:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            seen[response.status] = seen.get(response.status, 0) + 1
        conn.close()
        with lock:
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients (one sensor each)")
    parser.add_argument("--single", type=int, default=4000, help="messages sent one per request")
    parser.add_argument("--batch-messages", type=int, default=40_000, help="messages sent in batches")
    parser.add_argument("--batch", type=int, default=200, help="messages per batch request")
    args = parser.parse_args()
    auth_dir = Path(tempfile.mkdtemp(prefix="ph-bench-auth-"))
    os.environ["PUREHEALTH_MQTT_AUTH_DIR"] = str(auth_dir)  # credentials' broker files: private, no HUP
    os.environ["PUREHEALTH_MQTT_PID_FILE"] = str(auth_dir / "no-broker.pid")
    with bench_database() as url:
        stations = [f"BENCH-H{i:03d}" for i in range(args.clients)]
        add_stations(url, stations)
        tokens = [(s, registry.add(url, s, "bench").http_token) for s in stations]
        copy_rate = db_copy_limit(url, args.batch_messages)
        pool_size = settings.ingest_pool_size()
        commit_rate = commit_limit(url, pool_size, max(50, args.single // pool_size // 4))

        port = free_port()
        server = start_api(url, port)
        try:
            per = args.single // args.clients
            single_bodies = [[orjson.dumps(m) for m in messages_for(c, per, 0)] for c in range(args.clients)]
            cpu = cpu_seconds(server.pid)
            single_s, single_status = run_clients(port, tokens, single_bodies, "")
            single_cpu, cpu = cpu_seconds(server.pid) - cpu, cpu_seconds(server.pid)
            per = args.batch_messages // args.clients
            batch_bodies = [
                [orjson.dumps(chunk[i : i + args.batch]) for i in range(0, len(chunk), args.batch)]
                for chunk in (messages_for(c, per, 10**6) for c in range(args.clients))
            ]
            batch_s, batch_status = run_clients(port, tokens, batch_bodies, "/batch")
            batch_cpu = cpu_seconds(server.pid) - cpu
        finally:
            server.terminate()
            server.wait(30)
        with psycopg.connect(url) as conn:
            landed = conn.execute(
                "SELECT count(*) FROM raw.sensor_messages WHERE station_id LIKE 'BENCH-H%'"
            ).fetchone()[0]
    single_n = (args.single // args.clients) * args.clients
    batch_n = (args.batch_messages // args.clients) * args.clients
    expected_status = {201: single_n} == single_status and {200: batch_n // args.batch} == batch_status
    single_rate = single_n * PARAMETERS / single_s
    batch_rate = batch_n * PARAMETERS / batch_s
    report(
        f"HTTP ingest ({args.clients} keep-alive clients, {PARAMETERS} readings per message)",
        [
            ("bare COPY (same rows)", f"{copy_rate:,.0f} readings/s  ({copy_rate / PARAMETERS:,.0f} msg/s)"),
            (f"commit limit ({pool_size} sessions)", f"{commit_rate:,.0f} one-message transactions/s"),
            (
                "single (1 msg/request)",
                f"{single_rate:,.0f} readings/s  ({single_n / single_s:,.0f} req/s)"
                f"  ratio to COPY {single_rate / copy_rate:.3f}, to the commit limit"
                f" {single_n / single_s / commit_rate:.2f}",
            ),
            (
                f"batch ({args.batch} msg/request)",
                f"{batch_rate:,.0f} readings/s  ({batch_n / batch_s:,.0f} msg/s)"
                f"  ratio to COPY {batch_rate / copy_rate:.3f}",
            ),
            (
                "server CPU",
                f"single {1000 * single_cpu / single_n:.2f} ms/request,"
                f" batch {1000 * batch_cpu / (batch_n // args.batch):.1f} ms/request"
                f" ({1e6 * batch_cpu / batch_n:.0f} µs/message)",
            ),
            ("landed / sent", f"{landed:,} / {single_n + batch_n:,}"),
            ("statuses", f"single {single_status}, batch {batch_status}"),
        ],
    )
    return 0 if expected_status and landed == single_n + batch_n else 1


if __name__ == "__main__":
    raise SystemExit(main())
