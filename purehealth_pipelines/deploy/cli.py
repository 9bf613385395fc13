"""`purehealth deploy up|down|status|restart SERVICE`: the production topology on one host.

`up` writes the configuration to the state folder and starts the supervisor detached (it outlives the
command), then waits until every process reports healthy and prints the status table. `down` asks the
supervisor to stop everything and checks that no process it started is left. `status` reads the
supervisor's `state.json`; `restart` asks the supervisor to restart one service and waits for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from purehealth_pipelines.deploy.supervisor import end_group, group_members
from purehealth_pipelines.deploy.topology import (
    DEFAULT_DAGSTER_PG_URL,
    DeployConfig,
    default_state_dir,
    environment,
    prepare_dagster_home,
    validate,
)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def read_state(state_dir: Path) -> dict | None:
    path = state_dir / "state.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def supervisor_pid(state_dir: Path) -> int | None:
    path = state_dir / "supervisor.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(path.read_text().strip())
        return pid if pid_alive(pid) else None
    return None


def format_status(state: dict, now: float) -> str:
    """The status table: one line per service (pure: `state` is the supervisor's state.json)."""
    rows = [("SERVICE", "PID", "UP SINCE", "RESTARTS", "HEALTH", "ADDRESS", "DETAIL")]
    for name, s in state["services"].items():
        since = (
            datetime.fromtimestamp(s["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
            + f" ({_duration(now - s['started_at'])})"
            if s["started_at"]
            else "-"
        )
        rows.append(
            (
                name,
                str(s["pid"] or "-"),
                since,
                str(s["restarts"]),
                s["state"],
                s["address"] or "-",
                s["detail"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]  # fmt: skip
    if state.get("draining_groups"):
        lines.append(f"draining (run workers of a replaced code server): groups {state['draining_groups']}")
    return "\n".join(line.rstrip() for line in lines)


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def all_healthy(state: dict | None) -> bool:
    return bool(state) and all(s["healthy"] for s in state["services"].values())


def wait_healthy(state_dir: Path, timeout: float, supervisor: subprocess.Popen) -> dict | None:
    """Wait until every service is healthy, the supervisor exited, or `timeout`; the last state seen."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        with contextlib.suppress(ValueError, OSError):
            state = read_state(state_dir)
        if all_healthy(state) or supervisor.poll() is not None:
            return state
        time.sleep(1)
    return state


def _config_from_args(args: argparse.Namespace) -> DeployConfig:
    tokens = [t for t in (args.ws_token or []) if t]
    tokens += [t for t in os.environ.get("PUREHEALTH_WS_TOKENS", "").split(",") if t]
    return DeployConfig(
        state_dir=str(Path(args.state_dir).resolve()),
        host=args.host,
        webserver_ports=tuple(args.webserver_port or [3000]),
        code_server_port=args.code_server_port,
        bridge_http_port=args.bridge_port,
        broadcaster_port=args.broadcaster_port,
        api_port=args.api_port,
        code_module=args.code_module,
        dagster_pg_url=args.dagster_pg_url,
        ws_tokens=tuple(tokens),
        bridge_args=tuple(args.bridge_arg or []),
        live_path=not args.no_live_path,
    )


def end_leftovers(state: dict | None) -> list[int]:
    """End every process group a previous supervisor started that is still alive (a supervisor killed
    with -9 leaves its services running). Returns the groups that had to be ended.
    """
    if not state:
        return []
    groups = {s["pgid"] for s in state["services"].values() if s.get("pgid")} | set(
        state.get("draining_groups", [])
    )
    ended = [pgid for pgid in sorted(groups) if group_members(pgid)]
    for pgid in ended:
        end_group(pgid, 10.0)
    return ended


def _up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    if supervisor_pid(state_dir):
        print(
            f"already up (supervisor pid {supervisor_pid(state_dir)}); `purehealth deploy status` for details"
        )
        return 0
    config = _config_from_args(args)
    problems = validate(config)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    ended = end_leftovers(read_state(state_dir))
    if ended:
        print(f"ended {len(ended)} process group(s) left by a supervisor that did not stop cleanly")
    (state_dir / "state.json").unlink(missing_ok=True)
    config.save()
    prepare_dagster_home(state_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "purehealth_pipelines.deploy.supervisor", str(state_dir)]
    if args.foreground:  # a service manager (systemd Type=simple) watches the supervisor itself
        os.chdir(state_dir)
        os.execve(sys.executable, argv, environment(config))
    with open(state_dir / "logs" / "supervisor.log", "ab") as out:
        supervisor = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment(config),
            start_new_session=True,  # outlives this command and the terminal
            cwd=state_dir,
        )
    print(f"supervisor started; state, logs and pid files in {state_dir}")
    state = wait_healthy(state_dir, args.wait, supervisor)
    if state:
        print(format_status(state, time.time()))
    if not all_healthy(state):
        print(f"not every service is healthy after {args.wait:.0f} s (see logs in {state_dir / 'logs'})")
        return 1
    print("all services healthy")
    return 0


def _down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    pid = supervisor_pid(state_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if pid_alive(pid):
            print(f"supervisor {pid} did not stop in {args.timeout:.0f} s; killing it", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
    ended = end_leftovers(read_state(state_dir))
    if ended:
        print(f"ended leftover process groups {ended}")
    left = [pgid for pgid in _all_groups(read_state(state_dir)) if group_members(pgid)]
    if left:
        print(f"error: processes still running in groups {left}", file=sys.stderr)
        return 1
    print("down: no process of the deployment is running" if pid or ended else "down (was not running)")
    return 0


def _all_groups(state: dict | None) -> set[int]:
    if not state:
        return set()
    return {s["pgid"] for s in state["services"].values() if s.get("pgid")} | set(
        state.get("draining_groups", [])
    )


def _status(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    pid = supervisor_pid(state_dir)
    if state is None or pid is None:
        print(f"down (no supervisor running for {state_dir})")
        return 3
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        print(f"supervisor pid {pid}, state updated {time.time() - state['updated_at']:.0f} s ago")
        print(format_status(state, time.time()))
    return 0 if all_healthy(state) else 1


def _restart(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    if state is None or supervisor_pid(state_dir) is None:
        print("not running: `purehealth deploy up` first", file=sys.stderr)
        return 3
    if args.service not in state["services"]:
        print(f"unknown service {args.service!r}; one of {', '.join(state['services'])}", file=sys.stderr)
        return 2
    before = state["services"][args.service]["pid"]
    (state_dir / "control" / f"restart-{args.service}").write_text("")
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        with contextlib.suppress(ValueError, OSError):
            now = read_state(state_dir)["services"][args.service]
            if now["pid"] and now["pid"] != before and now["healthy"]:
                print(f"{args.service} restarted: pid {before} -> {now['pid']}, healthy")
                return 0
        time.sleep(0.5)
    print(f"{args.service} not healthy again after {args.wait:.0f} s", file=sys.stderr)
    return 1


def register(commands: argparse._SubParsersAction) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="production topology on one host: webserver(s), daemon, code server, bridge, broadcaster, API, "
        "notify under one supervisor",
        description=(
            "Start, stop and inspect the one-host production deployment. A supervisor starts each process"
            " in its own process group with its own log (STATE_DIR/logs/<service>.log) and pid file"
            " (STATE_DIR/pids/), probes its health (webserver /server_info, code server gRPC, daemon"
            " heartbeats, bridge /health, broadcaster /health, API /api/health) and restarts it with backoff"
            " when it exits. The Dagster instance is deploy/dagster.yaml (storage: --dagster-pg-url /"
            " DAGSTER_PG_URL); the code location is a separate gRPC code server that deploy/workspace.yaml"
            " points at. The warehouse and broker come from the usual PUREHEALTH_* variables. See README,"
            " 'Production on one host'."
        ),
    )
    actions = deploy.add_subparsers(dest="deploy_command", metavar="ACTION", required=True)

    def action(name: str, help_: str, handler) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_)
        parser.add_argument(
            "--state-dir",
            default=str(default_state_dir()),
            help="the deployment's folder: config, state.json, logs/, pids/ (default: PUREHEALTH_DEPLOY_DIR "
            "or .deploy/ in the project)",
        )
        parser.set_defaults(handler=handler)
        return parser

    up = action("up", "start every process under the supervisor and wait until all are healthy", _up)
    up.add_argument("--host", default="127.0.0.1", help="address every service binds to")
    up.add_argument(
        "--webserver-port",
        type=int,
        action="append",
        help="a Dagster webserver port; repeat for several webservers on the same instance (default 3000)",
    )
    up.add_argument("--code-server-port", type=int, default=4266, help="the gRPC code server's port")
    up.add_argument("--bridge-port", type=int, default=9108, help="the bridge's /health and /metrics port")
    up.add_argument("--broadcaster-port", type=int, default=8765, help="the WebSocket broadcaster's port")
    up.add_argument("--api-port", type=int, default=8080, help="the read API and dashboard's port")
    up.add_argument(
        "--dagster-pg-url",
        default=os.environ.get("DAGSTER_PG_URL", DEFAULT_DAGSTER_PG_URL),
        help="Dagster's run/event/schedule storage, postgresql+psycopg2://... (default: DAGSTER_PG_URL, else "
        "database purehealth_dagster on the local server)",
    )
    up.add_argument(
        "--code-module",
        default="purehealth_pipelines.definitions",
        help="the module the code server loads (default: the project's code location)",
    )
    up.add_argument(
        "--ws-token",
        action="append",
        help="an operator token the broadcaster accepts, for tools and scripts (repeatable; or "
        "PUREHEALTH_WS_TOKENS, or a signing secret in PUREHEALTH_WS_SECRET). Browsers never get it: the "
        "dashboard connects with short-lived tickets minted by the API",
    )
    up.add_argument(
        "--bridge-arg",
        action="append",
        help="an extra argument for `purehealth bridge` (repeat: --bridge-arg=--client-id --bridge-arg=b1)",
    )
    up.add_argument("--no-live-path", action="store_true", help="without the bridge and the broadcaster")
    up.add_argument(
        "--foreground",
        action="store_true",
        help="become the supervisor instead of starting it detached (for a systemd unit, Type=simple: "
        "SIGTERM stops everything); logs to stderr",
    )
    up.add_argument(
        "--wait",
        type=float,
        default=300.0,
        help="seconds to wait for every service to be healthy (exit 1 if not)",
    )
    down = action("down", "stop every process (SIGTERM, then SIGKILL) and check none is left", _down)
    down.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the supervisor")
    status = action("status", "table of each process: pid, up since, restarts, health (exit 0 = all healthy)",
                    _status)  # fmt: skip
    status.add_argument("--json", action="store_true", help="the supervisor's state.json as it is")
    restart = action(
        "restart",
        "restart one service and wait until it is healthy again (code-server: run workers in flight finish)",
        _restart,
    )
    restart.add_argument(
        "service", help="code-server, daemon, webserver-1, bridge, broadcaster, api, notify ..."
    )
    restart.add_argument("--wait", type=float, default=300.0, help="seconds to wait for it to be healthy")
