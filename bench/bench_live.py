"""Live-path benchmark: broker pipe limit, bridge landing rate (as a ratio), end-to-end latency.

One run measures, seconds apart on the same machine (docs/performance.md):
1. the broker's QoS 1 pipe limit with the C clients: `mosquitto_pub -l` -> Mosquitto -> `mosquitto_sub`;
2. the bridge's sustained landing rate fed by `mosquitto_pub -l` (5 parameters per message), as a ratio
   to (1) — target >= 0.7;
3. latency publish -> committed (a LISTEN on the bridge's post-commit NOTIFY) and publish -> WebSocket
   client (p50/p99) at steady 1,000 and 5,000 msg/s with 1,000 clients watching 10 of 300 stations each
   plus 50 watching all, in a separate client process. Latency uses the payload `ts` set at publish time.
   The paced latency publisher is paho (one topic per station is needed, which `mosquitto_pub -l` cannot
   do); it is not used for throughput.

    .venv/bin/python bench/bench_live.py [--messages 60000] [--latency-seconds 10]
It creates and drops its own database (purehealth_bench_<random>).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines import settings
from purehealth_pipelines.live.channels import load_secret, unseal
from purehealth_pipelines.warehouse.migrate import migrate

# The broker refuses anonymous clients: benches log in with the tools credential (bench/# only).
_TOOLS_USER, _TOOLS_PASSWORD = settings.mqtt_tools_credentials()
TOOLS_LOGIN = ["-h", settings.mqtt_host(), "-p", str(settings.mqtt_port()),
               "-u", _TOOLS_USER, "-P", _TOOLS_PASSWORD]  # fmt: skip
BRIDGE_LOGIN = ["--mqtt-host", settings.mqtt_host(), "--mqtt-port", str(settings.mqtt_port()),
                "--mqtt-username", _TOOLS_USER, "--mqtt-password", _TOOLS_PASSWORD]  # fmt: skip
PY = sys.executable
VALUES = '"temp_c":27.31,"do_mg_l":6.82,"ph":7.61,"ec_us_cm":412.5,"turbidity_ntu":12.4'
TOKEN = "bench-token"


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


SAMPLED_10_STATION_CLIENTS = 200  # latency recorded by this many 10-station clients ...
SAMPLED_ALL_STATION_CLIENTS = 10  # ... and this many all-station clients (the others only receive)


def slice_of(total: int, part: int, parts: int) -> list[int]:
    """[start, stop) of the `part`-th of `parts` near-equal slices of range(total)."""
    return [total * part // parts, total * (part + 1) // parts]


def lines_file(n: int, offset_s: int = 0) -> Path:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    handle = tempfile.NamedTemporaryFile("w", suffix=".lines", delete=False)  # noqa: SIM115
    with handle:
        for i in range(n):
            ts = (base + timedelta(seconds=offset_s + i)).isoformat()
            handle.write(f'{{"ts":"{ts}","values":{{{VALUES}}},"seq":{i}}}\n')
    return Path(handle.name)


def db_copy_limit(url: str, n: int) -> float:
    """Readings/s of one text COPY of n messages' rows (as the bridge lands them) into raw.sensor_messages.

    The database's own ingest limit for the same rows, so the bridge can be judged against it too (on a
    2-core box the bridge, Mosquitto and PostgreSQL share the cores; see docs/performance.md).
    """
    base = datetime(2026, 1, 1, tzinfo=UTC)
    parameters = "{temp_c,do_mg_l,ph,ec_us_cm,turbidity_ntu}"
    values = "{27.31,6.82,7.61,412.5,12.4}"
    text = "".join(
        f"BENCH-{i % 300:03d}\t{base + timedelta(seconds=i):%Y-%m-%dT%H:%M:%S%z}\t\\N"
        f"\t{parameters}\t{values}\t{i}\n"
        for i in range(n)
    )
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(
            'COPY raw.sensor_messages (station_id, ts, sensor_id, parameters, "values", seq) FROM STDIN'
        ) as copy:
            copy.write(text)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DELETE FROM raw.sensor_messages WHERE ts >= %s", (base,))
    return 5 * n / elapsed


def pipe_limit(path: Path, n: int) -> float:
    topic = f"bench/pipe/{uuid.uuid4().hex[:8]}"
    sub = subprocess.Popen(
        ["mosquitto_sub", *TOOLS_LOGIN, "-q", "1", "-t", topic, "-C", str(n), "-i", f"bsub-{topic[-8:]}"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    started = time.perf_counter()
    with path.open("rb") as handle:
        subprocess.run(
            ["mosquitto_pub", *TOOLS_LOGIN, "-q", "1", "-l", "-t", topic], stdin=handle, check=True
        )
    sub.wait(120)
    return n / (time.perf_counter() - started)


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"purehealth_bridge_{name} "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def start_bridge(url: str, root: str, http_port: int, log: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "realtime_bridge",
            "bridge",
            "--url",
            url,
            "--client-id",
            f"bench-{uuid.uuid4().hex[:6]}",
            "--topic-root",
            root,
            "--http-port",
            str(http_port),
            "--session-expiry",
            "300",
            *BRIDGE_LOGIN,
            *extra,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=1) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"bridge did not become healthy; see {log}")


def bridge_rate(url: str, path: Path, n: int, extra: list[str]) -> tuple[float, float]:
    root = f"bench/{uuid.uuid4().hex[:8]}/purehealth/v1"
    port = 9300 + random.randint(0, 500)
    bridge = start_bridge(url, root, port, Path(tempfile.gettempdir()) / "bench_bridge.log", *extra)
    try:
        before = metric(port, "messages_committed_total")
        started = time.perf_counter()
        with path.open("rb") as handle:
            subprocess.run(
                ["mosquitto_pub", *TOOLS_LOGIN, "-q", "1", "-l", "-t", f"{root}/stations/BENCH-000/readings"],
                stdin=handle,
                check=True,
            )
        published = time.perf_counter() - started
        while metric(port, "messages_committed_total") - before < n:
            time.sleep(0.05)  # polling /metrics costs the bridge CPU; 50 ms is < 1 % of the run
        elapsed = time.perf_counter() - started
        return n / elapsed, n / published
    finally:
        bridge.terminate()
        bridge.wait(30)


# --- latency ------------------------------------------------------------------------------------------------
TS_PATTERN = re.compile(rb'"type":"reading","station_id":"[^"]*","ts":"([^"]+)"')


class LightClient(asyncio.Protocol):
    """A minimal RFC 6455 client for the load side: handshake, unmasked server frames, pong, nothing else.

    Why not websockets' client: at ~16 k frames/s its per-frame cost (frame parser, assembler, a task
    wake-up per message) made the bench's own client processes a large share of the 2 cores the system
    under test needs. This one parses frame headers from each received chunk and, for the sampled clients
    only, extracts the `ts` of each reading with a regex on the bytes (no JSON parse).
    """

    def __init__(self, record: bool, samples: list[tuple[float, float]], ready: asyncio.Future) -> None:
        self.record, self.samples, self.ready = record, samples, ready
        self.buffer = b""
        self.handshaken = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(buffer[:200].decode(errors="replace")))
                return
            self.handshaken = True
            buffer = buffer[end + 4 :]
        now = time.time()
        position, size = 0, len(buffer)
        while size - position >= 2:
            opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length, header = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, header = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if size - position < header + length:
                break
            start = position + header
            position = start + length
            if opcode == 0x9:  # ping -> pong (client frames are masked; a zero mask leaves bytes as they are)
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + buffer[start:position])
            elif opcode == 0x1:
                if not self.ready.done():
                    self.ready.set_result(None)  # the hello
                elif self.record:
                    for ts in TS_PATTERN.findall(buffer, start, position):
                        published = datetime.fromisoformat(ts.decode()).timestamp()
                        self.samples.append((published, now - published))
        self.buffer = buffer[position:]


async def client_worker(
    uri: str,
    stations: list[str],
    clients: tuple[int, int],
    all_clients: tuple[int, int],
    sampled: tuple[int, int],
    out_path: str,
    seed: int,
) -> None:
    """Separate process: open clients, print READY, record sampled latencies until stdin EOF.

    `clients` / `all_clients` are [start, stop) index ranges (several worker processes share the load);
    clients with an index below sampled[0] (10-station) or sampled[1] (all-station) record latencies.
    """
    import base64
    import os
    from urllib.parse import urlsplit

    rng = random.Random(seed)
    samples: list[tuple[float, float]] = []  # (publish time, latency seconds)
    loop = asyncio.get_running_loop()
    target = urlsplit(uri)
    transports = []

    async def open_client(watch: str, record: bool) -> None:
        ready = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda: LightClient(record, samples, ready), target.hostname, target.port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /?token={TOKEN}&stations={watch} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await asyncio.wait_for(ready, 60)
        transports.append(transport)

    plan = [(",".join(rng.sample(stations, 10)), i < sampled[0]) for i in range(*clients)]
    plan += [("*", i < sampled[1]) for i in range(*all_clients)]
    for start in range(0, len(plan), 50):
        await asyncio.gather(*(open_client(watch, record) for watch, record in plan[start : start + 50]))
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    Path(out_path).write_text(json.dumps(samples))
    for transport in transports:
        transport.abort()


def paced_publish(root: str, stations: list[str], rate: float, seconds: float) -> tuple[float, float]:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pace-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(0)
    client.username_pw_set(*settings.mqtt_tools_credentials())
    client.connect(settings.mqtt_host(), settings.mqtt_port())
    client.loop_start()
    total = int(rate * seconds)
    started = time.time()
    t0 = time.perf_counter()
    last = None
    topics = [f"{root}/stations/{station}/readings" for station in stations]
    for i in range(total):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0.002:  # sleep in ≥ 2 ms steps: per-message sleeps cannot pace 5,000 msg/s in Python
            time.sleep(delay)
        payload = f'{{"ts":"{datetime.now(UTC).isoformat()}","values":{{{VALUES}}},"seq":{i}}}'
        last = client.publish(topics[i % len(topics)], payload, qos=1)
    if last is not None:
        last.wait_for_publish(30)
    achieved = total / (time.perf_counter() - t0)
    client.loop_stop()
    client.disconnect()
    return started, achieved


def commit_listener(url: str, samples: list[tuple[float, float]], stop: threading.Event) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN purehealth_readings")
        secret = load_secret(conn)
        while not stop.is_set():
            for notify in conn.notifies(timeout=0.5, stop_after=None):
                now = time.time()
                for line in (unseal(secret, notify.channel, notify.payload) or "").split("\n"):
                    fragment = line.partition("\t")[2]
                    ts = fragment.split('"ts":"', 1)[1].split('"', 1)[0]
                    published = datetime.fromisoformat(ts).timestamp()
                    samples.append((published, now - published))
                if stop.is_set():
                    break


def latency(
    url: str,
    stations: list[str],
    seconds: float,
    rates: list[float],
    window_ms: float,
    clients: int,
    all_clients: int,
    client_processes: int = 2,
    bridge_args: tuple[str, ...] = (),
) -> list[dict]:
    root = "purehealth/v1"  # the bench DB is private; the default tree is what dashboards would use
    root = f"bench/{uuid.uuid4().hex[:8]}/purehealth/v1"
    ws_port = 8800 + random.randint(0, 500)
    http_port = 9900 + random.randint(0, 90)
    logs = Path(tempfile.gettempdir())
    bridge = start_bridge(url, root, http_port, logs / "bench_latency_bridge.log", *bridge_args)
    broadcaster = subprocess.Popen(
        [
            PY,
            "-m",
            "realtime_bridge",
            "broadcast",
            "--url",
            url,
            "--port",
            str(ws_port),
            "--token",
            TOKEN,
            "--window-ms",
            str(window_ms),
            "--max-pending-frames",
            "1000",
            "--max-pending-bytes",
            str(32 << 20),
        ],
        stdout=(logs / "bench_broadcaster.log").open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=raise_fd_limit,
    )
    time.sleep(1.5)
    workers: list[tuple[subprocess.Popen, Path]] = []
    for w in range(client_processes):  # clients split over processes: the load side must not saturate
        share = (slice_of(clients, w, client_processes), slice_of(all_clients, w, client_processes))
        sampled_10 = share[0][0] + (SAMPLED_10_STATION_CLIENTS + client_processes - 1) // client_processes
        sampled_all = share[1][0] + (SAMPLED_ALL_STATION_CLIENTS + client_processes - 1) // client_processes
        path = Path(tempfile.gettempdir()) / f"bench_ws_{uuid.uuid4().hex[:6]}.json"
        spec = {
            "uri": f"ws://127.0.0.1:{ws_port}/",
            "clients": share[0],
            "all_clients": [clients + share[1][0], clients + share[1][1]],
            "sampled": [sampled_10, clients + sampled_all],
            "out_path": str(path),
            "seed": 7 + w,
        }
        proc = subprocess.Popen(
            [PY, __file__, "--client-worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=raise_fd_limit,
            text=True,
        )
        workers.append((proc, path))
    results = []
    try:
        for proc, _ in workers:
            line = proc.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"client worker failed: {line!r}")
        commit_samples: list[tuple[float, float]] = []
        stop = threading.Event()
        listener = threading.Thread(target=commit_listener, args=(url, commit_samples, stop), daemon=True)
        listener.start()
        time.sleep(0.5)
        phases = []
        for rate in rates:
            start, achieved = paced_publish(root, stations, rate, seconds)
            phases.append((rate, start, start + seconds + 0.5, achieved))
            time.sleep(1.5)
        stop.set()
        ws_samples = []
        for proc, path in workers:
            proc.stdin.close()
            proc.wait(60)
            ws_samples += json.loads(path.read_text())
            path.unlink()
        for rate, start, end, achieved in phases:
            # Skip the first second of each phase (connection warm-up, JIT of the paths).
            commit = [lat for pub, lat in commit_samples if start + 1 <= pub < end]
            ws = [lat for pub, lat in ws_samples if start + 1 <= pub < end]
            results.append(
                {
                    "rate": rate,
                    "achieved_publish_rate": round(achieved),
                    "commit_p50_ms": percentile(commit, 0.5) * 1000,
                    "commit_p99_ms": percentile(commit, 0.99) * 1000,
                    "ws_p50_ms": percentile(ws, 0.5) * 1000,
                    "ws_p99_ms": percentile(ws, 0.99) * 1000,
                    "ws_samples": len(ws),
                    "commit_samples": len(commit),
                }
            )
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                proc.kill()
        broadcaster.terminate()
        bridge.terminate()
        broadcaster.wait(20)
        bridge.wait(30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--window-ms", type=float, default=25.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--all-clients", type=int, default=50)
    parser.add_argument("--client-processes", type=int, default=2, help="WebSocket client worker processes")
    parser.add_argument("--bridge-args", default="", help="extra bridge options (both runs)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    admin = make_conninfo(**{**conninfo_to_dict(settings.warehouse_url()), "dbname": "postgres"})
    name = f"purehealth_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(**{**conninfo_to_dict(admin), "dbname": name})
    try:
        migrate(url)
        stations = [f"BENCH-{i:03d}" for i in range(300)]
        with psycopg.connect(url) as conn:
            conn.cursor().executemany(
                "INSERT INTO ref.stations (station_id, name, network) VALUES (%s, %s, 'IOT')",
                [(s, s) for s in stations],
            )
        if not args.skip_throughput:
            n = args.messages
            path = lines_file(n)
            print(f"# live path bench ({n:,} messages of 5 parameters, QoS 1)")
            limit = pipe_limit(path, n)
            print(f"broker pipe limit (mosquitto_pub -l -> mosquitto -> mosquitto_sub): {limit:,.0f} msg/s")
            landed, fed = bridge_rate(url, path, n, args.bridge_args.split())
            print(
                f"bridge landing rate: {landed:,.0f} msg/s = {landed * 5:,.0f} readings/s "
                f"(publisher finished at {fed:,.0f} msg/s)"
            )
            print(f"ratio bridge / pipe limit: {landed / limit:.2f} (target >= 0.70)")
            limit_after = pipe_limit(path, n)
            print(
                f"broker pipe limit re-measured after: {limit_after:,.0f} msg/s "
                f"(ratio vs mean of both: {landed / ((limit + limit_after) / 2):.2f})"
            )
            path.unlink()
            db_limit = db_copy_limit(url, n)
            print(
                f"database limit (one text COPY of the same {n:,} message rows into raw.sensor_messages): "
                f"{db_limit:,.0f} readings/s; bridge readings/s / that: {landed * 5 / db_limit:.2f}"
            )
        if not args.skip_latency:
            print(
                f"# latency: {args.clients} clients x 10 of 300 stations + {args.all_clients} x all, "
                f"frame window {args.window_ms:.0f} ms"
            )
            for row in latency(
                url,
                stations,
                args.latency_seconds,
                [float(r) for r in args.rates.split(",")],
                args.window_ms,
                args.clients,
                args.all_clients,
                args.client_processes,
                tuple(args.bridge_args.split()),
            ):
                print(
                    f"{row['rate']:,.0f} msg/s (achieved {row['achieved_publish_rate']:,}): publish->commit "
                    f"p50 {row['commit_p50_ms']:.1f} ms p99 {row['commit_p99_ms']:.1f} ms; "
                    f"publish->WebSocket "
                    f"p50 {row['ws_p50_ms']:.1f} ms p99 {row['ws_p99_ms']:.1f} ms "
                    f"({row['ws_samples']:,} client samples)"
                )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client-worker":
        raise_fd_limit()
        import uvloop

        spec = json.loads(sys.argv[2])
        uvloop.run(
            client_worker(
                spec["uri"],
                [f"BENCH-{i:03d}" for i in range(300)],
                tuple(spec["clients"]),
                tuple(spec["all_clients"]),
                tuple(spec["sampled"]),
                spec["out_path"],
                spec["seed"],
            )
        )
        sys.exit(0)
    sys.exit(main())
