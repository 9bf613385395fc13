"""Deployment bench: the one-host topology with the project's real code location.

    python bench/bench_deploy.py

A throwaway warehouse and a throwaway Dagster storage database, every port free, the bridge on a private test/
topic tree. Measured in the same run:
- the limit: how long the project's code location takes to serve from a bare `dagster code-server start`
  (cold start, nothing else running);
- `purehealth deploy up` until every process is healthy, and each process's own time to healthy;
- `kill -9` of the code server → healthy again under the supervisor, as a ratio to the bare cold start (the
  supervisor adds detection, a 1 s backoff and a 2 s probe period: limit 2.0×);
- `kill -9` of the daemon → healthy again (a fresh heartbeat of every daemon), as a ratio to the daemon's own
  time to healthy at `up` (limit 2.0×);
- `deploy down` until no process is left.
Exit status 1 when a ratio is over its limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _support import bench_database, report  # noqa: E402

from purehealth_pipelines import settings  # noqa: E402
from purehealth_pipelines.deploy.health import probe_grpc  # noqa: E402
from purehealth_pipelines.deploy.topology import prepare_dagster_home  # noqa: E402
from purehealth_pipelines_tests.live.helpers import free_port, tools_mqtt_args  # noqa: E402

RECOVERY_LIMIT = 2.0


def wait(predicate, timeout: float, what: str, interval: float = 0.25) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def cold_code_server_s(env: dict[str, str], port: int, log: Path) -> float:
    """The limit: the project's code location served by a bare code server, nothing else running."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "purehealth_pipelines.definitions",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        return wait(lambda: probe_grpc(f"127.0.0.1:{port}")[0], 300, "the bare code server")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> int:
    params = conninfo_to_dict(settings.warehouse_url())
    admin = make_conninfo(**{**params, "dbname": "postgres"})
    dagster_db = f"purehealth_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dagster_db)))
    pg_url = f"postgresql+psycopg2://{params['user']}:{params['password']}@{params['host']}:{params['port']}/{dagster_db}"
    state_dir = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        with bench_database() as warehouse:
            env = dict(os.environ, PYTHONPATH=str(ROOT), PUREHEALTH_WAREHOUSE_URL=warehouse)
            env.pop("DAGSTER_HOME", None)
            cli = [sys.executable, "-m", "purehealth_pipelines.deploy"]
            ports = [free_port() for _ in range(6)]
            limit_s = cold_code_server_s(
                {
                    **env,
                    "DAGSTER_HOME": str(prepare_dagster_home(state_dir)),
                    "DAGSTER_PG_URL": pg_url,
                    "PUREHEALTH_DEPLOY_STORAGE": str(state_dir / "storage"),
                    "PUREHEALTH_DEPLOY_COMPUTE_LOGS": str(state_dir / "compute_logs"),
                },
                ports[1],
                state_dir / "bare-code-server.log",
            )
            bridge = ["--client-id", f"bench-deploy-{uuid.uuid4().hex[:6]}", "--topic-root",
                      f"bench/deploy-{uuid.uuid4().hex[:6]}/purehealth/v1", "--session-expiry", "60",
                      *tools_mqtt_args()]  # fmt: skip
            up = subprocess.Popen(
                [
                    *cli,
                    "up",
                    "--state-dir",
                    str(state_dir),
                    "--webserver-port",
                    str(ports[0]),
                    "--code-server-port",
                    str(ports[1]),
                    "--bridge-port",
                    str(ports[2]),
                    "--broadcaster-port",
                    str(ports[3]),
                    "--api-port",
                    str(ports[4]),
                    "--dagster-pg-url",
                    pg_url,
                    "--ws-token",
                    "bench",
                    "--wait",
                    "400",
                    *(f"--bridge-arg={a}" for a in bridge),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started, started_wall = time.monotonic(), time.time()
            healthy_after: dict[str, float] = {}

            def state() -> dict:
                try:
                    return json.loads((state_dir / "state.json").read_text())
                except (OSError, ValueError):
                    return {"services": {}}

            while up.poll() is None:
                for name, s in state()["services"].items():
                    if s["healthy"] and name not in healthy_after:
                        healthy_after[name] = time.monotonic() - started
                time.sleep(0.25)
            output = up.stdout.read()
            if up.returncode != 0:
                print(output)
                raise SystemExit("deploy up failed")
            up_s = time.monotonic() - started
            services = state()["services"]
            # The daemon's own start: from its process start to its first healthy probe.
            daemon_own_s = healthy_after["daemon"] - (services["daemon"]["started_at"] - started_wall)

            def recovery(name: str) -> float:
                before = state()["services"][name]["pid"]
                os.kill(before, signal.SIGKILL)
                return wait(
                    lambda: (s := state()["services"][name])["healthy"] and s["pid"] != before,
                    300,
                    f"{name} to recover",
                )

            code_server_s = recovery("code-server")
            daemon_s = recovery("daemon")
            start_down = time.monotonic()
            down = subprocess.run([*cli, "down", "--state-dir", str(state_dir)], env=env, capture_output=True)
            down_s = time.monotonic() - start_down
            if down.returncode != 0:
                raise SystemExit(f"deploy down failed: {down.stdout.decode()} {down.stderr.decode()}")
    finally:
        cleanup = [sys.executable, "-m", "purehealth_pipelines.deploy", "down", "--state-dir", str(state_dir)]
        subprocess.run(cleanup, capture_output=True)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dagster_db))
            )

    def by_t(item: tuple[str, float]) -> float:
        return item[1]

    code_ratio = code_server_s / limit_s
    daemon_ratio = daemon_s / daemon_own_s
    rows = [
        ("limit: bare code server, project location, cold", f"{limit_s:.1f} s"),
        ("deploy up, all 7 processes healthy", f"{up_s:.1f} s"),
        *((f"  {name} healthy after", f"{t:.1f} s") for name, t in sorted(healthy_after.items(), key=by_t)),
        ("code server kill -9 -> healthy", f"{code_server_s:.1f} s = {code_ratio:.2f}x the cold start (limit "
                                           f"{RECOVERY_LIMIT}x)"),
        ("daemon kill -9 -> healthy", f"{daemon_s:.1f} s = {daemon_ratio:.2f}x its own start at up (limit "
                                      f"{RECOVERY_LIMIT}x)"),
        ("deploy down, nothing left", f"{down_s:.1f} s"),
    ]  # fmt: skip
    report("One-host deployment (project code location)", rows)
    return 0 if code_ratio <= RECOVERY_LIMIT and daemon_ratio <= RECOVERY_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
