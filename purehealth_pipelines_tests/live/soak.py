"""A soak of the running platform: live path + Dagster daemon over a throwaway warehouse, with known faults.

Used by the suite (`test_soak.py`, a few minutes) and by `bench/bench_soak.py` (30 minutes). It runs what
`make demo` serves, as separate processes: the MQTT bridge, the WebSocket broadcaster, `dagster-daemon`
(the live sensor, the marts' automation sensor, the run-failure sensor; runs queued and launched as in
production), and the simulator publishing with faults and a log of every fault it injected. A WebSocket
client listens the whole time. Then it measures what a user would look at: failed runs, the share of clean
readings QC calls good, whether every injected fault was flagged, alert latency from the DO drop to the
WebSocket, whether `mart.station_latest` keeps moving and never shows a future reading, and memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
from psycopg.conninfo import conninfo_to_dict
from websockets.asyncio.client import connect

from purehealth_pipelines import settings
from purehealth_pipelines.demo.cli import start_live_sensor_from
from purehealth_pipelines.quality.assets import qc_climatology
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_range
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines_tests.live.helpers import free_port, tools_mqtt_args
from realtime_bridge.simulator import DEFAULT_SEED, StationModel
from realtime_bridge.writer import copy_readings

TOKEN = "soak-token"
# Faults QC must flag within the soak. Slow faults (a drifting or a stuck sensor) take hours to tell from a
# river (flat-line windows are 12/24 h): they are injected and logged, their readings are not "clean", and
# they are not expected to be flagged within minutes.
FAST_FAULTS = ("spike", "do_drop")


@dataclass
class SoakConfig:
    warehouse_url: str
    dagster_storage_url: str  # postgresql+psycopg2://… of an empty database for Dagster's storage
    workdir: Path
    publish_seconds: float = 180.0
    settle_seconds: float = 240.0  # after publishing: time for the last runs to score and alert
    stations: int = 3
    rate: float = 3.0  # messages per second, all stations together
    history_days: int = 5
    do_drop_every_s: float = 60.0
    prefix: str = "SOAK"


@dataclass
class SoakResult:
    runs_succeeded: int = 0
    runs_failed: list[str] = field(default_factory=list)
    clean_readings: int = 0
    clean_good_share: float = 0.0
    fast_faults: int = 0
    fast_faults_unflagged: list[dict] = field(default_factory=list)
    fast_faults_unscored: int = 0
    alert_latency_s: float | None = None
    latest_moves: list[str] = field(default_factory=list)
    future_latest: int = 0
    memory_mb: dict[str, tuple[float, float]] = field(default_factory=dict)
    websocket_messages: int = 0


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (MB), from /proc (no psutil here)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            stack.extend(int(child) for child in children)
        except (OSError, StopIteration):
            continue
    return total / 1024.0


class Soak:
    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.stations = [f"IOT-{config.prefix}-{i}" for i in range(config.stations)]
        self.topic_root = f"test/{config.prefix.lower()}/purehealth/v1"
        self.fault_log = config.workdir / "faults.jsonl"
        self.processes: dict[str, subprocess.Popen] = {}
        self.messages: list[tuple[float, dict]] = []
        self.ws_port = free_port()
        self._stop_client = threading.Event()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(config.workdir),
            "PUREHEALTH_WAREHOUSE_URL": config.warehouse_url,
            "PYTHONUNBUFFERED": "1",
        }

    # --- setup -------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Stations, a history the simulator continues, scored, and a climatology learned from it."""
        with psycopg.connect(self.config.warehouse_url) as conn:
            conn.cursor().executemany(
                "INSERT INTO ref.stations (station_id, name, network) VALUES (%s, %s, 'IOT')",
                [(s, f"soak {s}") for s in self.stations],
            )
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=self.config.history_days)
        rows = []
        for station in self.stations:
            model = StationModel.create(station, DEFAULT_SEED)
            at = start
            while at < end:
                for parameter, value in model.values(at, faults=False).items():
                    rows.append((station, parameter, at, value))
                at += timedelta(minutes=15)
        history = pd.DataFrame(rows, columns=["station_id", "parameter", "ts", "value"])
        warehouse = WarehouseResource(url=self.config.warehouse_url)
        with warehouse.connect() as conn, conn.cursor() as cur:
            copy_readings(cur, history)
        score_range(warehouse, start, end, load_config())
        result = dg.materialize([qc_climatology], resources={"warehouse": warehouse})
        assert result.success, "could not learn the soak climatology"
        self.history_end = end
        self._write_instance()

    def _write_instance(self) -> None:
        workdir = self.config.workdir
        (workdir / "dagster.yaml").write_text(
            f"""storage:
  postgres:
    postgres_url: {self.config.dagster_storage_url}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 3
run_retries:
  enabled: true
  max_retries: 2
telemetry:
  enabled: false
"""
        )
        (workdir / "workspace.yaml").write_text(
            f"""load_from:
  - python_module:
      module_name: purehealth_pipelines.definitions
      working_directory: {settings.project_root()}
"""
        )

    # --- running -----------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.config.workdir / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=self.config.workdir,
        )  # fmt: skip

    def start(self) -> None:
        url = self.config.warehouse_url
        py = sys.executable
        # The live sensor starts after the history (it was scored above): its cursor is set like an operator
        # would (`dagster sensor cursor`), so the daemon does not re-score five history days first.
        # The live sensor starts after the history (scored above), as `purehealth demo run` does it, so the
        # daemon does not re-score five history days first.
        start_live_sensor_from(datetime.now(UTC), self.config.workdir / "workspace.yaml", self.env)
        mqtt = tools_mqtt_args()
        self._spawn(
            "bridge",
            [py, "-m", "realtime_bridge", "bridge", "--url", url, *mqtt, "--topic-root", self.topic_root,
             "--client-id", f"soak-bridge-{self.config.prefix.lower()}", "--http-port", "0"],
        )  # fmt: skip
        self._spawn(
            "broadcaster",
            [py, "-m", "realtime_bridge", "broadcast", "--url", url, "--port", str(self.ws_port),
             "--token", TOKEN],
        )  # fmt: skip
        daemon = str(Path(sys.executable).parent / "dagster-daemon")
        self._spawn("daemon", [daemon, "run", "-w", str(self.config.workdir / "workspace.yaml")])
        self._client = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)
        self._client.start()
        time.sleep(5)
        self.memory_start = {name: rss_mb(p.pid) for name, p in self.processes.items()}
        self.publish_started = datetime.now(UTC)
        self._spawn(
            "simulator",
            [py, "-m", "realtime_bridge", "simulate", "--url", url, *mqtt, "--topic-root", self.topic_root,
             "--stations", str(self.config.stations), "--rate", str(self.config.rate),
             "--duration", str(self.config.publish_seconds), "--faults", "--fault-log", str(self.fault_log),
             "--do-drop-every", str(self.config.do_drop_every_s)],
        )  # fmt: skip

    async def _listen(self) -> None:
        uri = f"ws://127.0.0.1:{self.ws_port}/?token={TOKEN}&stations=*"
        while not self._stop_client.is_set():
            try:
                async with connect(uri, compression=None) as ws:
                    while not self._stop_client.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 1.0)
                        except TimeoutError:
                            continue
                        decoded = json.loads(raw)
                        for message in decoded if isinstance(decoded, list) else [decoded]:
                            self.messages.append((time.time(), message))
            except (OSError, Exception):  # broadcaster not up yet, or restarted: retry
                await asyncio.sleep(0.5)

    def latest_ts(self) -> pd.Timestamp | None:
        with psycopg.connect(self.config.warehouse_url) as conn:
            row = conn.execute(
                "SELECT max(ts) FROM mart.station_latest WHERE station_id = ANY(%s)", (self.stations,)
            ).fetchone()
        return pd.Timestamp(row[0]) if row and row[0] is not None else None

    def run(self, progress: bool = False) -> SoakResult:
        """Publish for `publish_seconds` watching station_latest, let the pipeline settle, then measure."""
        result = SoakResult()
        started = time.monotonic()
        simulator = self.processes["simulator"]
        while simulator.poll() is None or time.monotonic() - started < self.config.publish_seconds:
            time.sleep(15)
            latest = self._watch_latest(result)
            if progress:
                elapsed = time.monotonic() - started
                print(f"  {elapsed:6.0f} s  latest {latest}  ws messages {len(self.messages)}")
        self.publish_ended = datetime.now(UTC)
        self._settle(result, progress)
        self.memory_end = {name: rss_mb(p.pid) for name, p in self.processes.items() if p.poll() is None}
        result.memory_mb = {
            name: (self.memory_start.get(name, 0.0), self.memory_end.get(name, 0.0))
            for name in self.memory_start
        }
        self._measure(result)
        return result

    def _watch_latest(self, result: SoakResult) -> pd.Timestamp | None:
        latest = self.latest_ts()
        if latest is not None and (not result.latest_moves or latest.isoformat() > result.latest_moves[-1]):
            result.latest_moves.append(latest.isoformat())
        return latest

    def _settle(self, result: SoakResult, progress: bool) -> None:
        """Wait until core.readings covers the published window and an alert reached the client (bounded)."""
        deadline = time.monotonic() + self.config.settle_seconds
        target = self.publish_ended - timedelta(seconds=30)
        while time.monotonic() < deadline:
            with psycopg.connect(self.config.warehouse_url) as conn:
                scored = conn.execute(
                    "SELECT min(m) FROM (SELECT max(ts) AS m FROM core.readings"
                    " WHERE station_id = ANY(%s) AND source = 'iot' GROUP BY station_id) s",
                    (self.stations,),
                ).fetchone()[0]
            alerted = self._alert_receipt() is not None
            self._watch_latest(result)
            moving = len(result.latest_moves) >= 3
            if scored is not None and scored >= target and alerted and moving and not self._runs_in_flight():
                return
            if progress:
                print(f"  settling: scored to {scored}, alert on WebSocket: {alerted}")
            time.sleep(10)

    def _runs_in_flight(self) -> bool:
        instance = dg.DagsterInstance.from_config(str(self.config.workdir))
        try:
            statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
            return bool(instance.get_runs(filters=dg.RunsFilter(statuses=statuses), limit=1))
        finally:
            instance.dispose()

    def _alert_receipt(self) -> tuple[float, dict] | None:
        for received, message in self.messages:
            if (
                message.get("type") == "alert"
                and message.get("rule") == "do_below_4"
                and message.get("station_id") in self.stations
            ):
                return received, message
        return None

    def faults(self) -> pd.DataFrame:
        if not self.fault_log.exists():
            return pd.DataFrame(columns=["station_id", "ts", "parameter", "fault"])
        frame = pd.read_json(self.fault_log, lines=True, dtype={"station_id": str})
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
        return frame

    def _measure(self, result: SoakResult) -> None:
        instance = dg.DagsterInstance.from_config(str(self.config.workdir))
        try:
            runs = instance.get_runs()
            result.runs_succeeded = sum(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
            result.runs_failed = [
                f"{r.run_id[:8]} {r.job_name} {sorted(k.to_user_string() for k in (r.asset_selection or []))}"
                for r in runs
                if r.status == dg.DagsterRunStatus.FAILURE
            ]
        finally:
            instance.dispose()
        faults = self.faults()
        with psycopg.connect(self.config.warehouse_url) as conn:
            readings = pd.DataFrame(
                conn.execute(
                    "SELECT station_id, parameter, ts, qc_flag FROM core.readings"
                    " WHERE station_id = ANY(%s) AND source = 'iot' AND ts >= %s AND ts < %s",
                    (self.stations, self.publish_started, self.publish_ended),
                ).fetchall(),
                columns=["station_id", "parameter", "ts", "qc_flag"],
            )
            result.future_latest = conn.execute(
                "SELECT count(*) FROM mart.station_latest WHERE ts > now() + interval '5 minutes'"
            ).fetchone()[0]
        readings["ts"] = pd.to_datetime(readings["ts"], utc=True)
        # Only readings with both neighbours scored are judged (the last seconds may be "not evaluated").
        judged_until = self.publish_ended - timedelta(seconds=60)
        readings = readings[readings["ts"] < judged_until]
        keys = ["station_id", "parameter", "ts"]
        faulted = readings.merge(faults[[*keys, "fault"]], on=keys, how="left")
        # A station with a slow fault is not clean on that parameter for the whole soak.
        slow = faults[~faults["fault"].isin(FAST_FAULTS)][["station_id", "parameter"]].drop_duplicates()
        slow_keys = set(map(tuple, slow.to_numpy()))
        is_slow = [
            (s, p) in slow_keys for s, p in zip(faulted["station_id"], faulted["parameter"], strict=True)
        ]
        clean = faulted[faulted["fault"].isna() & ~pd.Series(is_slow, index=faulted.index)]
        result.clean_readings = len(clean)
        result.clean_good_share = float((clean["qc_flag"] == 1).mean()) if len(clean) else 0.0
        fast = faults[faults["fault"].isin(FAST_FAULTS) & (faults["ts"] < judged_until)]
        scored_fast = fast.merge(readings, on=keys, how="left")
        result.fast_faults = len(scored_fast)
        result.fast_faults_unscored = int(scored_fast["qc_flag"].isna().sum())
        unflagged = scored_fast[scored_fast["qc_flag"].notna() & ~scored_fast["qc_flag"].isin([3, 4])]
        result.fast_faults_unflagged = unflagged.astype(str).to_dict("records")
        receipt = self._alert_receipt()
        drops = faults[faults["fault"] == "do_drop"]
        if receipt is not None and not drops.empty:
            station_drops = drops[drops["station_id"] == receipt[1]["station_id"]]
            first = (station_drops if not station_drops.empty else drops)["ts"].min()
            result.alert_latency_s = receipt[0] - first.timestamp()
        result.websocket_messages = len(self.messages)

    def stop(self) -> None:
        self._stop_client.set()
        for name, process in self.processes.items():
            if process.poll() is None:
                os.killpg(process.pid, 2 if name == "daemon" else 15)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.config.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def dagster_storage_url(database_url: str) -> str:
    """The psycopg2 URL dagster-postgres needs for a database given as a libpq conninfo (stack notes)."""
    params = conninfo_to_dict(database_url)
    user, password = params.get("user", "postgres"), params.get("password", "")
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql+psycopg2://{auth}{host}:{port}/{params['dbname']}"
