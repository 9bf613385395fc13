"""What broker authentication costs the live path: landing rate with auth on vs off, in one run.

Two private brokers (purehealth_pipelines_tests/private_broker.py) with the project's settings, started
side by side on free ports — "on": anonymous refused, the password file and the ACL file of
scripts/services.sh (what the field broker runs); "off": the same minus those three lines (anonymous, no
ACL). For each, alternately and --rounds times:
1. the broker's QoS 1 pipe limit: `mosquitto_pub -l` -> broker -> `mosquitto_sub` (C clients);
2. the bridge's sustained landing rate fed by `mosquitto_pub -l` (5 parameters per message), measured
   from its committed-messages counter (as bench/bench_live.py does against the shared broker).
Both clients log in with the tools credential (bench/# only) on both brokers; "off" ignores it. The
figures are the median round of each (the machine is shared; rounds alternate the order); the ratio
on/off is the cost of authentication (1.0 = free).
The shared broker on 1883 is never touched.

    .venv/bin/python bench/bench_mqtt_auth.py [--messages 30000] [--rounds 4]
It creates and drops its own database (purehealth_bench_<random>).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import bench_database, report
from bench_live import lines_file, metric

from purehealth_pipelines import settings
from purehealth_pipelines_tests import private_broker
from purehealth_pipelines_tests.live.helpers import add_stations, free_port, scalar

USER, PASSWORD = settings.mqtt_tools_credentials()


def login(port: int) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD]


def pipe_limit(port: int, path: Path, n: int) -> float:
    topic = f"bench/pipe/{uuid.uuid4().hex[:8]}"
    sub = subprocess.Popen(
        ["mosquitto_sub", *login(port), "-q", "1", "-t", topic, "-C", str(n), "-i", f"bsub-{topic[-8:]}"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    started = time.perf_counter()
    with path.open("rb") as handle:
        subprocess.run(
            ["mosquitto_pub", *login(port), "-q", "1", "-l", "-t", topic], stdin=handle, check=True
        )
    sub.wait(300)
    return n / (time.perf_counter() - started)


def landing_rate(url: str, port: int, path: Path, n: int) -> float:
    root = f"bench/{uuid.uuid4().hex[:8]}/purehealth/v1"
    http_port = free_port()
    log = Path(tempfile.gettempdir()) / f"bench_mqtt_auth_bridge_{port}.log"
    bridge = subprocess.Popen(
        [sys.executable, "-m", "realtime_bridge", "bridge", "--url", url,
         "--client-id", f"bench-{uuid.uuid4().hex[:6]}", "--topic-root", root, "--http-port", str(http_port),
         "--session-expiry", "300", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port),
         "--mqtt-username", USER, "--mqtt-password", PASSWORD],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                metric(http_port, "messages_committed_total")
                break
            except OSError:
                if time.monotonic() > deadline or bridge.poll() is not None:
                    raise RuntimeError(f"bridge did not start; see {log}") from None
                time.sleep(0.2)
        time.sleep(0.5)  # subscribed
        before = metric(http_port, "messages_committed_total")
        started = time.perf_counter()
        with path.open("rb") as handle:
            subprocess.run(
                ["mosquitto_pub", *login(port), "-q", "1", "-l", "-t", f"{root}/stations/BENCH-000/readings"],
                stdin=handle,
                check=True,
            )
        deadline = time.monotonic() + 300
        while metric(http_port, "messages_committed_total") - before < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bridge landed fewer than {n} messages; see {log}")
            time.sleep(0.05)
        return n / (time.perf_counter() - started)
    finally:
        bridge.terminate()
        bridge.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (median reported)")
    args = parser.parse_args()
    brokers = {}
    try:
        for mode in ("on", "off"):
            directory = Path(tempfile.mkdtemp(prefix=f"ph-bench-broker-{mode}-"))
            port = free_port()
            private_broker.start(directory, port, auth=mode == "on")
            brokers[mode] = (directory, port)
        # Proof that the modes differ: anonymous is refused by "on" only.
        anonymous = {
            mode: subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "bench/x", "-m", "x"],
                capture_output=True,
                timeout=20,
            ).returncode
            for mode, (_, port) in brokers.items()
        }
        assert anonymous["on"] != 0 and anonymous["off"] == 0, anonymous
        results: dict[str, dict[str, list[float]]] = {m: {"pipe": [], "landing": []} for m in brokers}
        with bench_database() as url:
            add_stations(url, ["BENCH-000"])
            for round_ in range(args.rounds):
                path = lines_file(args.messages, offset_s=round_ * 10 * args.messages)
                for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    _, port = brokers[mode]
                    results[mode]["pipe"].append(pipe_limit(port, path, args.messages))
                    results[mode]["landing"].append(landing_rate(url, port, path, args.messages))
                    path = lines_file(args.messages, offset_s=(round_ * 10 + 5) * args.messages)
            landed = scalar(url, "SELECT count(*) FROM raw.sensor_messages WHERE station_id = 'BENCH-000'")
            assert landed == 2 * args.rounds * args.messages, landed  # every message landed, once
    finally:
        for directory, _ in brokers.values():
            private_broker.stop(directory)
    best = {mode: {k: statistics.median(v) for k, v in r.items()} for mode, r in results.items()}
    report(
        f"MQTT auth on vs off ({args.messages:,} QoS 1 messages x {args.rounds} rounds, median)",
        [
            ("pipe limit, auth on", f"{best['on']['pipe']:,.0f} msg/s"),
            ("pipe limit, auth off", f"{best['off']['pipe']:,.0f} msg/s"),
            ("pipe ratio on/off", f"{best['on']['pipe'] / best['off']['pipe']:.3f}"),
            ("bridge landing, auth on", f"{best['on']['landing']:,.0f} msg/s"),
            ("bridge landing, auth off", f"{best['off']['landing']:,.0f} msg/s"),
            ("landing ratio on/off", f"{best['on']['landing'] / best['off']['landing']:.3f}"),
            (
                "all rounds",
                str({m: {k: [round(x) for x in v] for k, v in r.items()} for m, r in results.items()}),
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
