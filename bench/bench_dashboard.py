"""Dashboard bench (issue 14): first map paint with 300 stations, and the page under 1,000 readings/s.

    python bench/bench_dashboard.py [--stations 300] [--rate 1000] [--duration 300]

A throwaway database gets the real registry plus synthetic IoT stations up to `--stations` (sited inside
Maharashtra), the API (uvicorn, in a thread) and the broadcaster (subprocess) start on free ports, and
Debian's Chromium (Playwright, executable_path) opens the page. Readings go in as the bridge sends them:
sealed NOTIFY payloads of ~12 readings on `purehealth_readings` (the MQTT leg is bench_live.py's business).
Figures: page load to first map paint (median of 5 loads; target ≤ 1 s), then every 30 s of the load the
readings the page took in, its DOM flushes (coalesced: one per 250 ms, not one per reading) and its JS heap
after a forced GC; once the page's bounded de-duplication window is full (half-way) the heap must not grow.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _support import bench_database, report  # noqa: E402

from purehealth_pipelines.api.app import ApiConfig, create_app  # noqa: E402
from purehealth_pipelines.api.db import analyst_url  # noqa: E402
from purehealth_pipelines.live.channels import READINGS_CHANNEL, load_secret, seal  # noqa: E402
from purehealth_pipelines.resources import WarehouseResource  # noqa: E402
from purehealth_pipelines.stations.registry import load_registry  # noqa: E402
from purehealth_pipelines_tests.api.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from purehealth_pipelines_tests.live.helpers import free_port, wait_for  # noqa: E402

TOKEN = "bench-token"


def registry_with(n: int):
    import pandas as pd

    registry = load_registry()
    rng = random.Random(14)
    extra = [
        {
            "station_id": f"IOT-BENCH-{i:03d}",
            "name": f"bench sensor {i}",
            "network": "IOT",
            "source_code": f"IOT-BENCH-{i:03d}",
            "latitude": rng.uniform(17.0, 21.0),
            "longitude": rng.uniform(74.0, 79.0),
            "location_source": "project",
            "location_detail": "bench",
            "location_uncertainty_km": 1.0,
        }
        for i in range(max(0, n - len(registry)))
    ]
    return pd.concat([registry, pd.DataFrame(extra)], ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--rate", type=int, default=1000, help="readings per second")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    args = parser.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    with bench_database() as url:
        registry = registry_with(args.stations)
        WarehouseResource(url=url).replace_table("ref.stations", registry)
        live = registry.loc[registry["network"] == "IOT", "station_id"].tolist()
        ws_port, api_port = free_port(), free_port()
        ws_args = ["--url", url, "--port", str(ws_port), "--token", TOKEN]
        broadcaster = subprocess.Popen(
            [sys.executable, "-m", "realtime_bridge", "broadcast", *ws_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        config = ApiConfig(analyst_url(url), ws_url=f"ws://127.0.0.1:{ws_port}/", ws_tokens=(TOKEN,))
        server = uvicorn.Server(uvicorn.Config(create_app(config), port=api_port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        wait_for(lambda: server.started, 20, what="API")
        base = f"http://127.0.0.1:{api_port}/"
        rows: list[tuple[str, str]] = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                paints = []
                for _ in range(5):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(base)
                    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
                    paints.append(time.perf_counter() - started)
                    markers = page.locator("#stations circle").count()
                    context.close()
                rows.append(
                    (
                        "first map paint, median of 5",
                        f"{statistics.median(paints) * 1000:.0f} ms ({markers} markers)",
                    )
                )
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                cdp = page.context.new_cdp_session(page)
                cdp.send("HeapProfiler.enable")
                page.goto(base)
                page.wait_for_function(
                    "document.querySelector('#conn').dataset.state === 'live'", timeout=20_000
                )
                stop = threading.Event()
                sent = [0]

                def load() -> None:
                    with psycopg.connect(url, autocommit=True) as conn:
                        secret = load_secret(conn)
                        start, seq = time.monotonic(), 0
                        while not stop.is_set():
                            due = int((time.monotonic() - start) * args.rate)
                            while sent[0] < due:
                                lines = []
                                for _ in range(12):
                                    station = live[seq % len(live)]
                                    ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
                                    message = {
                                        "type": "reading",
                                        "station_id": station,
                                        "ts": ts.isoformat(),
                                        "values": {"do_mg_l": 6 + (seq % 100) / 100, "ph": 7.2},
                                        "seq": seq,
                                    }
                                    lines.append(f"{station}\t{json.dumps(message, separators=(',', ':'))}")
                                    seq += 1
                                body = "\n".join(lines)
                                conn.execute(
                                    "SELECT pg_notify(%s, %s)",
                                    (READINGS_CHANNEL, seal(secret, READINGS_CHANNEL, body)),
                                )
                                sent[0] += 12
                            time.sleep(0.01)

                loader = threading.Thread(target=load, daemon=True)
                loader.start()
                samples = []
                began = time.monotonic()
                while time.monotonic() - began < args.duration:
                    time.sleep(min(30.0, args.duration / 6))
                    cdp.send("HeapProfiler.collectGarbage")
                    heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
                    stats = page.evaluate("window.__dashboard.stats")
                    samples.append(
                        (time.monotonic() - began, sent[0], stats["readings"], stats["domFlushes"], heap)
                    )
                stop.set()
                loader.join(10)
                browser.close()
        finally:
            server.should_exit = True
            broadcaster.terminate()
            broadcaster.wait(10)
        for at, total, taken, flushes, heap in samples:
            rows.append(
                (
                    f"t={at:5.0f} s",
                    f"sent {total:,}  page {taken:,}  DOM flushes {flushes:,}  heap {heap / 1e6:.1f} MB",
                )
            )
        # The page keeps the last 50,000 message keys for de-duplication (bounded): compare the heap once that
        # window is full (half-way) with the end.
        half = samples[len(samples) // 2 - 1 if len(samples) > 1 else 0]
        early, late = half[4], samples[-1][4]
        last = samples[-1]
        rows.append(("readings per DOM flush", f"{last[2] / max(1, last[3]):.0f}"))
        rows.append(("heap growth, half-way -> end", f"{(late - early) / 1e6:+.1f} MB ({late / early:.2f}x)"))
        rows.append(("page kept up", f"{last[2] / max(1, last[1]):.3f} of the readings sent"))
        report(f"Dashboard: {args.stations} stations, {args.rate} readings/s for {args.duration:.0f} s", rows)
        return 0 if statistics.median(paints) <= 1.0 and late <= early * 1.25 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
