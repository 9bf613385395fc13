"""`purehealth demo run|serve`: the whole pipeline on the offline demo sources, then the live services.

`run` materialises every asset of the code location in dependency order, each partitioned asset over a
recent demo window in one single-run backfill, through the Dagster instance in DAGSTER_HOME, so every run,
materialisation and check result is there to explore in the UI afterwards. `serve` starts the Dagster UI and
daemon with the live path (bridge, broadcaster, simulator) beside it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from purehealth_pipelines import settings
from purehealth_pipelines.asset_keys import CORE_READINGS

# How much history the demo materialises, per partition cadence (the partitions' cron schedule).
DEMO_WS_TOKEN = os.environ.get("PUREHEALTH_DEMO_WS_TOKEN", "demo-token")
DEMO_API_PORT = 8080  # `purehealth api`: the dashboard and the read API
DEMO_WINDOWS = {"@yearly": 3, "@monthly": 12, "@weekly": 4, "@daily": 14, "@hourly": 48}


@dataclass(frozen=True)
class DemoStep:
    asset_key: dg.AssetKey
    first_partition: str | None
    last_partition: str | None
    partitions: int

    @property
    def label(self) -> str:
        name = self.asset_key.to_user_string()
        if self.first_partition is None:
            return name
        return f"{name} [{self.first_partition} .. {self.last_partition}] ({self.partitions} partitions)"


def _cadence(partitions_def: dg.PartitionsDefinition) -> str:
    cron = getattr(partitions_def, "cron_schedule", "")
    fields = cron.split()
    if len(fields) != 5:
        return "@daily"
    _minute, hour, day, month, weekday = fields
    if month != "*":
        return "@yearly"
    if day != "*":
        return "@monthly"
    if weekday != "*":
        return "@weekly"
    return "@daily" if hour != "*" else "@hourly"


# Government windows: NWMP (calendar years) and MPCB's financial years are yearly demo windows;
# the monthly assets and the daily assets that turn those publications into readings and lab-sample WQIs are
# backfilled over the same span, so every MPCB demo station gets monthly WQIs and the last complete financial
# year has its report. The report itself renders only that last year (a report a year is what MPCB publishes).
GOVERNMENT_BACKFILL = (CORE_READINGS, dg.AssetKey(["mart", "sample_wqi"]))
LAST_PARTITION_ONLY = (dg.AssetKey(["reports", "water_quality_status"]),)


def _government_window_start(graph) -> datetime | None:
    """Start of the earliest yearly demo window (the oldest government publication the demo covers)."""
    starts = []
    for key in graph.toposorted_asset_keys:
        partitions_def = graph.get(key).partitions_def
        if (
            isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
            and _cadence(partitions_def) == "@yearly"
        ):
            keys = partitions_def.get_partition_keys()[-DEMO_WINDOWS["@yearly"] :]
            if keys:
                starts.append(partitions_def.time_window_for_partition_key(keys[0]).start)
    return min(starts) if starts else None


def _window(
    key: dg.AssetKey, partitions_def: dg.PartitionsDefinition, government_start: datetime | None
) -> list:
    keys = partitions_def.get_partition_keys()
    cadence = _cadence(partitions_def)
    window = keys[-DEMO_WINDOWS[cadence] :]
    if key in LAST_PARTITION_ONLY:
        return keys[-1:]
    if government_start is None or not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return window
    if cadence == "@monthly" or key in GOVERNMENT_BACKFILL:
        since = [k for k in keys if partitions_def.time_window_for_partition_key(k).start >= government_start]
        return since if len(since) > len(window) else window
    return window


def plan(defs: dg.Definitions) -> list[DemoStep]:
    """Every materialisable asset in topological order, with the partitions the demo covers."""
    graph = defs.resolve_asset_graph()
    government_start = _government_window_start(graph)
    steps = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        partitions_def = node.partitions_def
        if partitions_def is None:
            steps.append(DemoStep(key, None, None, 0))
            continue
        window = _window(key, partitions_def, government_start)
        if window:
            steps.append(DemoStep(key, window[0], window[-1], len(window)))
    return steps


@dataclass(frozen=True)
class StepResult:
    step: DemoStep
    success: bool
    run_id: str
    row_counts: dict[str, int]
    checks_run: int = 0
    checks_failed: list[str] = field(default_factory=list)


def run_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resources: dict[str, object] | None = None,
    *,
    quiet: bool = False,
) -> list[StepResult]:
    """Materialise every asset of `defs` over its demo window, one run per asset, in dependency order."""
    steps = plan(defs)
    # The asset checks go with the assets: selecting an asset then runs its checks in the same run (without
    # them in the list, the raw sources' great-expectations suites never ran in the demo).
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    bound = dict(defs.resources or {}) | dict(resources or {})
    results = []
    progress = tqdm(steps, desc="demo", unit="asset", disable=quiet)
    # Log lines from runs go through tqdm.write, above the bar, instead of breaking it in two.
    with logging_redirect_tqdm(loggers=[logging.root, logging.getLogger("dagster")]):
        for step in progress:
            progress.set_postfix_str(step.asset_key.to_user_string())
            results.append(_materialize_step(step, assets, instance, bound, quiet))
    return results


def _materialize_step(
    step: DemoStep, assets: list, instance: dg.DagsterInstance, bound: dict[str, object], quiet: bool
) -> StepResult:
    """One asset (with its checks) over its demo window, in one single-run backfill."""
    tags = {"purehealth/demo": "true"}
    if step.first_partition is not None:
        tags |= {
            "dagster/asset_partition_range_start": step.first_partition,
            "dagster/asset_partition_range_end": step.last_partition,
        }
    result = dg.materialize(
        assets,
        selection=[step.asset_key],
        instance=instance,
        tags=tags,
        raise_on_error=False,
        resources=bound,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    row_counts = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        count = materialization.metadata.get("dagster/row_count") if materialization else None
        if count is not None:
            row_counts[materialization.partition or "-"] = int(count.value)
    checks = [c for c in result.get_asset_check_evaluations() if c.asset_key == step.asset_key]
    failed_checks = [c.check_name for c in checks if not c.passed]
    if not quiet:
        status = "ok" if result.success else "FAILED"
        rows = sum(row_counts.values()) if len(row_counts) <= 1 else max(row_counts.values())
        verdict = f"  checks {len(checks) - len(failed_checks)}/{len(checks)} passed" if checks else ""
        failed = f" (failed: {', '.join(failed_checks)})" if failed_checks else ""
        tqdm.write(f"{status:>6}  {step.label}  rows={rows:,}{verdict}{failed}  run {result.run_id[:8]}")
    return StepResult(step, result.success, result.run_id, row_counts, len(checks), failed_checks)


def seed_live_history(days: int, quiet: bool) -> int:
    """Publish `days` of sensor history for the live (IoT) stations through MQTT and the real bridge."""
    from purehealth_pipelines.demo.sensor_history import seed_sensor_history
    from purehealth_pipelines.resources import WarehouseResource
    from purehealth_pipelines.stations.registry import load_registry

    registry = load_registry()
    warehouse = WarehouseResource()
    warehouse.replace_table("ref.stations", registry)  # the bridge only accepts registered stations
    live = registry.loc[registry["network"] == "IOT", "station_id"].tolist()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    landed = seed_sensor_history(
        warehouse.url,
        live,
        end - timedelta(days=days),
        end,
        mqtt_host=settings.mqtt_host(),
        mqtt_port=settings.mqtt_port(),
        quiet=quiet,
    )
    print(f"Live stations: {landed:,} readings of the last {days} days landed through MQTT and the bridge.")
    return landed


def run_demo(args: argparse.Namespace) -> int:
    import purehealth_pipelines.definitions as location

    settings.use_project_dagster_instance()  # runs are recorded where the UI (make ui / demo serve) looks
    if args.sensor_days > 0:
        seed_live_history(args.sensor_days, args.quiet)
    instance = dg.DagsterInstance.get()
    scoring_from = _warehouse_now()
    results = run_pipeline(location.defs, instance, quiet=args.quiet)
    # core/readings was just materialised over everything landed before `scoring_from`: the live sensor
    # starts there instead of re-scoring every seeded day in the UI's first minutes (14 queued runs).
    start_live_sensor_from(scoring_from, settings.project_root() / "workspace.yaml", dict(os.environ))
    failures = [r.step.label for r in results if not r.success]
    checks = sum(r.checks_run for r in results)
    failed_checks = [name for r in results for name in r.checks_failed]
    print(
        f"\nDemo pipeline: {len(results) - len(failures)} of {len(results)} assets materialised;"
        f" {checks - len(failed_checks)} of {checks} asset checks passed."
    )
    for name in failed_checks:
        print(f"  check failed: {name} (see the asset's Checks tab in the Dagster UI)")
    _print_report_paths(instance)
    for label in failures:
        print(f"  failed: {label} (see its run in the Dagster UI)")
    return 1 if failures else 0


def _print_report_paths(instance: dg.DagsterInstance) -> None:
    """Where the rendered "Water Quality Status of Maharashtra" report is, if the demo rendered one."""
    event = instance.get_latest_materialization_event(dg.AssetKey(["reports", "water_quality_status"]))
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return
    metadata = materialization.metadata
    for label, key in (("Report PDF", "pdf_path"), ("Workbook", "workbook_path")):
        if key in metadata:
            print(f"{label + ':':<12}{metadata[key].value}")


def _warehouse_now() -> datetime:
    import psycopg

    with psycopg.connect(settings.warehouse_url()) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def start_live_sensor_from(cursor: datetime, workspace: Path, env: dict[str, str]) -> None:
    """Set the live sensor's high-water mark (what `dagster sensor cursor` does) and keep it running.

    Setting a cursor stores the sensor's state, which then overrides its default "running", so it is started
    explicitly too.
    """
    from purehealth_pipelines.live.sensor import raw_sensor_readings_sensor

    name = raw_sensor_readings_sensor.name
    for command in (["cursor", name, "--set", cursor.isoformat()], ["start", name]):
        done = subprocess.run(
            [sys.executable, "-m", "dagster", "sensor", *command, "-w", str(workspace)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=workspace.parent,
        )
        if done.returncode != 0 and "already running" not in done.stdout + done.stderr:
            raise RuntimeError(f"dagster sensor {command[0]} {name}: {(done.stderr or done.stdout)[-400:]}")


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


# What a running demo switches on, and says so. In demo mode (offline publishers) every schedule: the
# government pulls keep the demo's sources moving day by day, the features/training/backtest jobs retrain the
# models on the data that keeps arriving (otherwise they are trained once by `demo run` and never again),
# the 15-minute and daily forecast issues publish, climatology and maintenance run as in production. With
# live sources only the forecasting schedules are started: pulling real publishers is an operator's decision.
LIVE_MODE_DEMO_SCHEDULES = (
    "forecast_features_job_schedule",
    "forecast_training_job_schedule",
    "live_forecast_job_schedule",
    "daily_forecast_job_schedule",
)


def _start_demo_schedules() -> None:
    from purehealth_pipelines.sources.resources import env_mode

    demo_mode = env_mode() == "demo"
    names = ["--start-all"] if demo_mode else list(LIVE_MODE_DEMO_SCHEDULES)
    for name in names:
        done = subprocess.run(
            [sys.executable, "-m", "dagster", "schedule", "start", name, "-w", "workspace.yaml"],
            cwd=settings.project_root(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 and "already running" not in done.stdout + done.stderr:
            print(f"warning: could not start schedule {name}: {(done.stderr or done.stdout).strip()[-300:]}")
    if demo_mode:
        print(
            "Schedules: all on (demo sources) — government pulls, satellite, climatology, feature building,"
            " model training and backtests, forecast issues (15 min / daily), maintenance. Turn any off in"
            " the UI's Automation tab."
        )
    else:
        print(f"Schedules on (live sources): {', '.join(LIVE_MODE_DEMO_SCHEDULES)}; the pulls stay off.")


def serve(args: argparse.Namespace) -> int:
    """Dagster UI + daemon, and the live path when it is installed, until Ctrl-C."""
    settings.use_project_dagster_instance()
    _start_demo_schedules()
    commands = [
        [
            sys.executable,
            # `dagster dev` itself warns that `dg dev` supersedes it; dg is not part of this install.
            "-W",
            "ignore:Function `dev_command` is superseded",
            "-m",
            "dagster",
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            args.host,
            "-p",
            str(args.port),
        ]
    ]
    purehealth = shutil.which("purehealth") or f"{sys.executable} -m purehealth_pipelines.cli"
    # The live path: bridge, WebSocket broadcaster and the sensor simulator.
    commands += [
        [*purehealth.split(), "bridge"],
        [*purehealth.split(), "broadcast", "--token", DEMO_WS_TOKEN],
        [
            *purehealth.split(),
            "simulate",
            "--stations",
            "12",
            "--rate",
            "2",
            "--duration",
            str(7 * 24 * 3600),
            "--faults",
        ],
    ]
    # The read API and the dashboard, reading as the analyst; its page connects to the broadcaster with a
    # per-load ticket (live/tickets.py). DEMO_WS_TOKEN is the developers' operator token: printed below for
    # tools (websocat, scripts), never handed to the page.
    commands.append([*purehealth.split(), "api", "--port", str(DEMO_API_PORT)])
    # Alert delivery: drains ops.alert_outbox to the subscribers (`purehealth alerts subscribe`).
    commands.append([*purehealth.split(), "notify"])
    # Each child leads its own process group, so stopping one stops everything it started.
    processes = [
        subprocess.Popen(cmd, start_new_session=True, cwd=settings.project_root()) for cmd in commands
    ]
    print(
        f"Live readings, alerts, forecasts (developers' operator token): "
        f"ws://127.0.0.1:8765/?token={DEMO_WS_TOKEN}&stations=*"
    )
    print("Bridge health and counters: http://127.0.0.1:9108/health, http://127.0.0.1:9108/metrics")
    print(
        f"Dashboard: http://127.0.0.1:{DEMO_API_PORT}/  (read API docs: http://127.0.0.1:{DEMO_API_PORT}/docs)"
    )
    print(f"Dagster UI on http://{args.host}:{args.port}; {len(processes)} processes running; Ctrl-C stops.")
    stop_requested: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a service manager stopping us
        signal.signal(signum, lambda received, _frame: stop_requested.append(received))
    reported: set[int] = set()
    try:
        while processes[0].poll() is None and not stop_requested:  # the UI decides; others are reported
            for index, process in enumerate(processes[1:], start=1):
                if process.poll() is not None and index not in reported:
                    reported.add(index)
                    print(f"warning: `{' '.join(commands[index][-6:])}` exited with {process.returncode}")
            time.sleep(1)
    finally:
        print("stopping the demo services ...")
        # `dagster dev` shuts its webserver, daemon and code servers down on SIGINT (Ctrl-C), not SIGTERM;
        # the bridge drains and commits on SIGTERM.
        for index, process in enumerate(processes):
            _signal_group(process, signal.SIGINT if index == 0 else signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the whole pipeline on offline demo sources; serve the UI")
    actions = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="materialise every asset over a recent window (yearly: 3, monthly: 12, weekly: 4, daily: 14 "
        "partitions) through the Dagster instance in DAGSTER_HOME, so the runs show in the UI",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--sensor-days",
        type=int,
        default=DEMO_WINDOWS["@daily"],
        help="days of live-station history to publish over MQTT through the bridge first (0 = none)",
    )
    run.set_defaults(handler=run_demo)
    serve_parser = actions.add_parser(
        "serve", help="start the Dagster UI/daemon and the live path until Ctrl-C"
    )
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=3000)
    serve_parser.set_defaults(handler=serve)
