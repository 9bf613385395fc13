"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright for Python through
`executable_path`; `make test` / .ci/run install it), against the real services: the API (uvicorn), the
WebSocket broadcaster and the MQTT bridge as subprocesses, Mosquitto and TimescaleDB.

One page is followed through a user's session, in order: first paint with every located station, a station's
chart from the API, a reading published over MQTT on the page within 2 s, an alert written by the pipeline's
own alert writer in the feed, the broadcaster killed and restarted (the page reconnects and catches up with no
duplicates), a phone-width layout, and a reload with the server gone (the offline cache). Screenshots go to
docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import uvicorn

from purehealth_pipelines.alerts.routing import station_page
from purehealth_pipelines.api.app import ApiConfig, create_app
from purehealth_pipelines.marts.alerts import AlertState, write_alerts
from purehealth_pipelines_tests.api.conftest import LIVE, Seeded, seed
from purehealth_pipelines_tests.live.helpers import BridgeProcess, free_port, publish_lines, unique, wait_for
from realtime_bridge.simulator import reading_payload

pytestmark = pytest.mark.timeout(300)

CHROMIUM = os.environ.get("PUREHEALTH_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VENDOR = Path(__file__).resolve().parents[2] / "purehealth_pipelines" / "api" / "static" / "vendor"


class ApiServer:
    """uvicorn serving the app in a thread, stoppable and restartable on the same port."""

    def __init__(self, config: ApiConfig, port: int) -> None:
        self.config, self.port = config, port
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(self.config)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 20, what="API server started")

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(20)


class Broadcaster:
    """`python -m realtime_bridge broadcast` as a subprocess on a fixed port (killed and restarted there)."""

    def __init__(self, url: str, port: int, log_path: Path) -> None:
        self.url, self.port, self.log_path = url, port, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - inherited by the child, closed with the test dir
        args = ["--url", self.url, "--port", str(self.port), "--token", TOKEN]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_bridge", "broadcast", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

        def healthy() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as response:
                return response.status == 200

        wait_for(healthy, 20, what=f"broadcaster healthy (log {self.log_path})")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def stack(module_warehouse_url: str, mqtt_broker, tmp_path_factory) -> Iterator[dict]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (make test installs it)")
    if not (VENDOR / "uPlot.iife.min.js").exists():
        pytest.fail("dashboard assets missing: run `make dashboard-assets`")
    seeded: Seeded = seed(module_warehouse_url)
    logs = tmp_path_factory.mktemp("browser")
    prefix = unique("B").upper()
    root = f"test/{prefix}/purehealth/v1"
    bridge = BridgeProcess(module_warehouse_url, f"bridge-{prefix}", root, logs).start()
    broadcaster = Broadcaster(module_warehouse_url, free_port(), logs / "broadcaster.log")
    broadcaster.start()
    api = ApiServer(
        ApiConfig(database_url=seeded.analyst_url, ws_url=f"ws://127.0.0.1:{broadcaster.port}/"),
        free_port(),
    )
    api.start()
    try:
        yield {"seeded": seeded, "root": root, "bridge": bridge, "broadcaster": broadcaster, "api": api}
    finally:
        broadcaster.stop()
        bridge.stop()
        if api.server is not None and not api.server.should_exit:
            api.stop()


def publish(root: str, station: str, readings: list[tuple[datetime, float]]) -> None:
    lines = [
        reading_payload(station, ts, {"do_mg_l": value, "ph": 7.2}, seq=i)
        for i, (ts, value) in enumerate(readings)
    ]
    assert publish_lines(f"{root}/stations/{station}/readings", lines, unique("pub")).wait(20) == 0


def test_the_dashboard_live_in_a_real_browser(stack: dict, module_warehouse_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = f"http://127.0.0.1:{stack['api'].port}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        outside: list[str] = []
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:"))
                else outside.append(r.url)
            ),
        )

        # 1. First paint: every station with a location is on the map (and nothing is fetched from outside).
        started = time.perf_counter()
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        paint_s = time.perf_counter() - started
        located = page.evaluate(
            "fetch('/api/stations').then(r => r.json()).then(b => b.features.filter(f => f.geometry).length)"
        )
        assert page.evaluate("window.__dashboard.markers.size") == located > 150
        assert page.evaluate("window.__dashboard.stats.markersDrawn") == located  # one canvas, all in view
        assert page.locator("#districts path").count() == 36
        expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
        print(f"first map paint {paint_s * 1000:.0f} ms with {located} stations")
        # The page went live with a per-load ticket: the broadcaster's operator token is nowhere in it.
        _assert_no_operator_token(page, base)

        # 1b. The link alert messages carry (alerts/routing.py station_page) opens that station's panel.
        linked = context.new_page()
        linked.goto(station_page(base, LIVE))
        expect(linked.locator("#panel")).to_have_attribute("data-station", LIVE, timeout=15_000)
        linked.close()

        # 2. Clicking a station draws its charts from the API (with the forecast band ahead of the readings).
        # Pune's stations are a few km apart: a click there offers the nearby ones to pick from.
        at = page.evaluate(f"window.__dashboard.markerAt('{LIVE}')")
        page.mouse.click(at["x"], at["y"])
        if page.locator("#picker").is_visible():
            page.locator(f"#picker button[data-station='{LIVE}']").click()
        expect(page.locator("#panel")).to_have_attribute("data-station", LIVE)
        expect(page.locator("#p-charts")).to_have_attribute("data-loaded", "24h:1", timeout=10_000)
        assert page.locator("#p-charts .chart[data-param='do_mg_l'] canvas").count() == 1
        assert "forecast P10–P90" in page.locator("#p-charts .chart[data-param='do_mg_l'] h4").inner_text()
        page.locator("#p-range button[data-range='7d']").click()
        expect(page.locator("#p-charts")).to_have_attribute("data-loaded", "7d:3", timeout=10_000)
        assert page.locator("#p-wqi-chart canvas").count() == 1
        page.locator("#p-range button[data-range='24h']").click()
        expect(page.locator("#p-charts")).to_have_attribute("data-loaded", "24h:1", timeout=10_000)

        # 3. A reading published over MQTT is on the page within 2 s.
        now = datetime.now(UTC).replace(microsecond=0)
        value_cell = page.locator("#p-latest tr[data-param='do_mg_l'] .value")
        published = time.perf_counter()
        publish(stack["root"], LIVE, [(now, 9.87)])
        expect(value_cell).to_contain_text("9.87", timeout=2_000)
        latency = time.perf_counter() - published
        print(f"MQTT -> page: {latency * 1000:.0f} ms")
        assert latency < 2.0

        # 4. An alert raised by the pipeline's alert writer appears in the feed.
        alert = AlertState(
            station_id=LIVE,
            parameter="do_mg_l",
            rule="sudden_jump",
            severity="warning",
            status="open",
            first_seen=pd.Timestamp(now),
            last_seen=pd.Timestamp(now),
            resolved_at=None,
            breach_count=1,
            last_value=3.2,
            worst_value=3.2,
            threshold="< 4",
            message="Browser test: DO 3.2 mg/L below 4",
        )
        with psycopg.connect(module_warehouse_url) as conn:
            write_alerts(conn, [alert], "test")
        item = page.locator(f"#feed li[data-alert-id='{alert.alert_id}']")
        expect(item).to_contain_text("Browser test: DO 3.2", timeout=5_000)
        expect(page.locator(f"#p-alerts li[data-alert-id='{alert.alert_id}']")).to_have_count(1)
        assert page.locator("#p-wqi-chart canvas").count() == 1  # live chart redraws leave the WQI chart
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"))

        # 4b. Zoom (buttons, keyboard, wheel, drag) keeps the markers usable; names appear when zoomed in.
        _zoom_checks(page)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-zoomed.png"))
        page.keyboard.press("0")

        # 5. Kill -9 the broadcaster, publish while it is down, restart it: the page reconnects and catches
        #    up, every reading exactly once.
        before = page.evaluate("window.__dashboard.stats.readings")
        stack["broadcaster"].kill9()
        expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting", timeout=5_000)
        expect(page.locator("#offline-banner")).to_be_visible()
        missed = [(now + timedelta(seconds=10 + i), 5.0 + i / 100) for i in range(20)]
        publish(stack["root"], LIVE, missed)
        wait_for(lambda: _landed(module_warehouse_url, LIVE, now) >= 21, 15, what="bridge landed the outage")
        stack["broadcaster"].start()
        expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(value_cell).to_contain_text("5.19", timeout=10_000)
        wait_for(
            lambda: page.evaluate("window.__dashboard.stats.readings") >= before + 20, 10, what="catch-up"
        )
        time.sleep(1)  # anything duplicated would arrive with the replay frame, already counted here
        stats = page.evaluate("window.__dashboard.stats")
        assert stats["readings"] == before + 20, stats  # exactly the 20 missed ones, none twice
        assert stats["replays"] >= 1
        expect(page.locator("#offline-banner")).to_be_hidden()

        # 6. A phone's width: one column, nothing wider than the screen.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        mobile.goto(base + "/")
        mobile.wait_for_selector("body[data-ready='1']", timeout=15_000)
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
        assert mobile.evaluate("window.__dashboard.markers.size") == located
        _pinch_zoom(phone, mobile)
        mobile.evaluate("window.scrollTo(0, 0)")
        mobile.locator("#zoom-reset").click()
        mobile.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"), full_page=True)
        phone.close()

        # 7. Offline: the server is gone, a reload still shows the last data (service worker + local cache).
        page.wait_for_function(
            "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=10_000
        )
        page.wait_for_timeout(5_500)  # the local cache is written every 5 s
        stack["api"].stop()
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        assert page.evaluate("window.__dashboard.markers.size") == located
        expect(page.locator("#offline-banner")).to_be_visible()
        assert "Showing data from" in page.locator("#offline-banner").inner_text()
        assert page.locator("#feed li").count() >= 2
        browser.close()
    assert not errors, errors
    assert not outside, f"the page fetched from outside: {outside[:5]}"


def _landed(url: str, station: str, since: datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM raw.sensor_messages WHERE station_id = %s AND ts >= %s", (station, since)
        ).fetchone()[0]


def _zoom(page) -> float:
    return float(page.locator("#map-pane").get_attribute("data-zoom"))


def _zoom_checks(page) -> None:
    """+/- buttons, keys, the wheel about the pointer, a drag to pan; zoomed in, one click = one station."""
    from playwright.sync_api import expect

    page.locator("#panel-close").click()
    assert _zoom(page) == 1.0
    page.locator("#zoom-in").click()
    expect_zoom = 1.5
    wait_for(lambda: abs(_zoom(page) - expect_zoom) < 0.01, 5, what="+ button zoomed")
    page.locator("#map-pane").focus()
    page.keyboard.press("+")
    wait_for(lambda: abs(_zoom(page) - 2.25) < 0.01, 5, what="+ key zoomed")
    page.keyboard.press("-")
    wait_for(lambda: abs(_zoom(page) - 1.5) < 0.01, 5, what="- key zoomed out")
    page.keyboard.press("0")
    wait_for(lambda: _zoom(page) == 1.0, 5, what="0 reset the view")
    # The wheel zooms about the pointer: the map point under it stays under it. (A mouse event's position is
    # whole pixels, so the marker, a fraction of a pixel off the pointer, drifts by that fraction times k.)
    at = page.evaluate(f"window.__dashboard.markerAt('{LIVE}')")
    mouse = (round(at["x"]), round(at["y"]))
    page.mouse.move(*mouse)
    for _ in range(12):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(50)
    wait_for(lambda: _zoom(page) >= 20, 5, what="wheel zoomed in")
    page.wait_for_timeout(100)
    k = _zoom(page)
    after = page.evaluate(f"window.__dashboard.markerAt('{LIVE}')")
    expected = (mouse[0] + (at["x"] - mouse[0]) * k, mouse[1] + (at["y"] - mouse[1]) * k)
    assert abs(after["x"] - expected[0]) < 2 and abs(after["y"] - expected[1]) < 2, (at, after, k)
    # Zoomed in: names are drawn beside markers, and a click picks the one station (no list to choose from).
    assert LIVE in page.evaluate("window.__dashboard.labels")
    page.mouse.click(after["x"], after["y"])
    expect(page.locator("#panel")).to_have_attribute("data-station", LIVE)
    assert page.locator("#picker").is_hidden()
    # A drag pans (and selects nothing): the station moves with the pointer, here to the map's centre...
    box = page.locator("#stations-layer").bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator("#panel-close").click()
    page.mouse.move(after["x"], after["y"])
    page.mouse.down()
    page.mouse.move(*centre, steps=8)
    page.mouse.up()
    page.wait_for_timeout(100)
    moved = page.evaluate(f"window.__dashboard.markerAt('{LIVE}')")
    assert abs(moved["x"] - centre[0]) < 3 and abs(moved["y"] - centre[1]) < 3, (moved, centre)
    assert page.locator("#panel").is_hidden()
    # ...where the keyboard's crosshair is: Enter on the focused map opens that station.
    page.locator("#map-pane").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_have_attribute("data-station", LIVE)
    expect(page.locator("#panel")).to_be_visible()
    print(f"zoomed to {_zoom(page):.1f}x; {len(page.evaluate('window.__dashboard.labels'))} labels drawn")


def _pinch_zoom(context, page) -> None:
    """Two fingers moving apart over the map zoom it in (touch events through the DevTools protocol)."""
    box = page.locator("#stations-layer").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = context.new_cdp_session(page)

    def touch(kind: str, spread: float) -> None:
        points = (
            []
            if kind == "touchEnd"
            else [{"x": cx - spread, "y": cy, "id": 1}, {"x": cx + spread, "y": cy, "id": 2}]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    before = _zoom(page)
    touch("touchStart", 20)
    for spread in range(25, 100, 5):
        touch("touchMove", spread)
    touch("touchEnd", 0)
    wait_for(lambda: _zoom(page) >= before * 3, 5, what="pinch zoomed in")


def _assert_no_operator_token(page, base: str) -> None:
    """Neither the page, its script, its storage nor /api/live carries the broadcaster's operator token."""
    import urllib.request

    texts = [page.content(), page.evaluate("JSON.stringify(localStorage)")]
    for path in ("/", "/static/app.js", "/api/live"):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            texts.append(response.read().decode())
    assert all(TOKEN not in text for text in texts)
    assert '"ticket":"t1.' in texts[-1].replace(" ", "")
