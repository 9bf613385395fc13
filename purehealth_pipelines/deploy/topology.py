"""What runs in the one-host deployment: each process, its command line, its address and its health probe.

Pure functions of a `DeployConfig`: no process is started here (that is `supervisor.py`), so the topology can
be read, printed and tested without starting anything. The order of `services()` is the start order: the
code server first (the webserver and the daemon load the code location from it), the live path last.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from purehealth_pipelines import settings

CODE_LOCATION = "purehealth_pipelines"  # deploy/workspace.yaml's location_name
DEFAULT_DAGSTER_PG_URL = "postgresql+psycopg2://purehealth:purehealth@127.0.0.1:5432/purehealth_dagster"


def deploy_instance_dir() -> Path:
    """The deployment's Dagster instance folder (dagster.yaml + workspace.yaml), shipped in the project."""
    return settings.project_root() / "deploy"


def dagster_home(state_dir: Path | str) -> Path:
    """The deployment's DAGSTER_HOME: a folder in the state folder whose dagster.yaml links to the shipped
    deploy/dagster.yaml, so what Dagster writes beside its config (logs, queues) goes to the state folder and
    the installed project can stay read-only.
    """
    return Path(state_dir) / "dagster_home"


def prepare_dagster_home(state_dir: Path | str) -> Path:
    home = dagster_home(state_dir)
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(deploy_instance_dir() / "dagster.yaml")
    return home


def default_state_dir() -> Path:
    """Where a deployment keeps its logs, pid files and state: PUREHEALTH_DEPLOY_DIR, else `.deploy/`."""
    return Path(os.environ.get("PUREHEALTH_DEPLOY_DIR", settings.project_root() / ".deploy"))


@dataclass(frozen=True)
class DeployConfig:
    """Everything a deployment needs to know; saved as `config.json` in its state folder by `deploy up`."""

    state_dir: str
    host: str = "127.0.0.1"
    webserver_ports: tuple[int, ...] = (3000,)
    code_server_port: int = 4266
    bridge_http_port: int = 9108
    broadcaster_port: int = 8765
    api_port: int = 8080
    # The code location the code server loads (a test deploys a small one of its own).
    code_module: str = "purehealth_pipelines.definitions"
    dagster_pg_url: str = DEFAULT_DAGSTER_PG_URL
    ws_tokens: tuple[str, ...] = ()
    bridge_args: tuple[str, ...] = ()  # extra `purehealth bridge` arguments (client id, share group, login)
    live_path: bool = True  # bridge and broadcaster (the realtime_bridge package)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every process

    def save(self) -> Path:
        path = Path(self.state_dir) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        # It holds the storage URL (with its password), the broadcaster tokens and any bridge login.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, state_dir: Path) -> DeployConfig:
        path = Path(state_dir) / "config.json"
        if not path.exists():
            raise FileNotFoundError(
                f"no deployment in {state_dir} (no config.json): run `purehealth deploy up`"
            )
        raw = json.loads(path.read_text())
        for key in ("webserver_ports", "ws_tokens", "bridge_args"):
            raw[key] = tuple(raw.get(key, ()))
        return cls(**raw)


@dataclass(frozen=True)
class Probe:
    """How a service shows it is healthy: `http` (GET url → 200), `grpc` (code server ping), `daemon`
    (a fresh heartbeat of every required daemon, written since the process started), `process` (alive).
    """

    kind: str
    target: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]
    probe: Probe
    address: str = ""
    # Seconds a stop waits after SIGTERM before SIGKILL (the bridge drains and commits on SIGTERM).
    stop_timeout: float = 15.0


def validate(config: DeployConfig) -> list[str]:
    """Problems that make the configuration unusable, in words (empty when it is fine)."""
    problems = []
    ports = [
        *config.webserver_ports,
        config.code_server_port,
        config.api_port,
        *((config.bridge_http_port, config.broadcaster_port) if config.live_path else ()),
    ]
    if not config.webserver_ports:
        problems.append("at least one webserver port is needed")
    duplicates = sorted({p for p in ports if ports.count(p) > 1})
    if duplicates:
        problems.append(f"ports used twice: {duplicates}")
    if any(not 0 < p < 65536 for p in ports):
        problems.append(f"ports must be 1..65535: {ports}")
    if not config.dagster_pg_url.startswith("postgresql+psycopg2://"):
        problems.append(
            "the Dagster storage URL must name the psycopg2 driver (postgresql+psycopg2://...): "
            "dagster-postgres' NOTIFY fails under psycopg 3 (docs/stack_notes.md)"
        )
    return problems


def environment(config: DeployConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the deployment gets: the deployment instance and where things go."""
    state = Path(config.state_dir)
    env = dict(os.environ if base is None else base)
    env.update(
        DAGSTER_HOME=str(dagster_home(state)),
        DAGSTER_PG_URL=config.dagster_pg_url,
        PUREHEALTH_DEPLOY_DIR=str(state),
        PUREHEALTH_DEPLOY_STORAGE=str(state / "storage"),
        PUREHEALTH_DEPLOY_COMPUTE_LOGS=str(state / "compute_logs"),
        PUREHEALTH_CODE_SERVER_HOST=config.host,
        PUREHEALTH_CODE_SERVER_PORT=str(config.code_server_port),
        PUREHEALTH_DAGSTER_URL=f"http://{config.host}:{config.webserver_ports[0]}",
        PUREHEALTH_DASHBOARD_URL=f"http://{config.host}:{config.api_port}",
        PYTHONUNBUFFERED="1",
    )
    env.update(config.env)
    return env


def services(config: DeployConfig) -> list[ServiceSpec]:
    """Every process of the deployment, in start order."""
    py = sys.executable
    workspace = str(deploy_instance_dir() / "workspace.yaml")
    purehealth = (py, "-m", "purehealth_pipelines.cli")
    host = config.host
    specs = [
        ServiceSpec(
            "code-server",
            (
                py,
                "-m",
                "dagster",
                "code-server",
                "start",
                "-h",
                host,
                "-p",
                str(config.code_server_port),
                "-m",
                config.code_module,
                "--location-name",
                CODE_LOCATION,
            ),
            Probe("grpc", f"{host}:{config.code_server_port}"),
            f"grpc://{host}:{config.code_server_port}",
        ),
        ServiceSpec(
            "daemon",
            (py, "-m", "dagster._daemon", "run", "-w", workspace),
            Probe("daemon"),
            "",
            stop_timeout=30.0,
        ),
    ]
    for index, port in enumerate(config.webserver_ports, start=1):
        specs.append(
            ServiceSpec(
                f"webserver-{index}",
                (py, "-m", "dagster_webserver", "-h", host, "-p", str(port), "-w", workspace),
                Probe("http", f"http://{host}:{port}/server_info"),
                f"http://{host}:{port}",
            )
        )
    tokens = [arg for token in config.ws_tokens for arg in ("--token", token)]
    if config.live_path:
        specs += [
            ServiceSpec(
                "bridge",
                (
                    *purehealth,
                    "bridge",
                    "--http-host",
                    host,
                    "--http-port",
                    str(config.bridge_http_port),
                    *config.bridge_args,
                ),
                Probe("http", f"http://{host}:{config.bridge_http_port}/health"),
                f"http://{host}:{config.bridge_http_port}/health",
                stop_timeout=30.0,
            ),
            ServiceSpec(
                "broadcaster",
                (*purehealth, "broadcast", "--host", host, "--port", str(config.broadcaster_port), *tokens),
                Probe("http", f"http://{host}:{config.broadcaster_port}/health"),
                f"ws://{host}:{config.broadcaster_port}/",
            ),
        ]
    ws_url = f"ws://{{host}}:{config.broadcaster_port}/" if config.live_path else "none"
    specs += [
        ServiceSpec(
            "api",
            (
                *purehealth,
                "api",
                "--host",
                host,
                "--port",
                str(config.api_port),
                "--ws-url",
                ws_url,
            ),
            Probe("http", f"http://{host}:{config.api_port}/api/health"),
            f"http://{host}:{config.api_port}/",
        ),
        # The notification worker has no endpoint of its own: alive is all it can show.
        ServiceSpec("notify", (*purehealth, "notify"), Probe("process")),
    ]
    return specs


def restart_delay(consecutive_failures: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before restarting a process that has exited `consecutive_failures` times in a row
    without staying up: 1, 2, 4, ... up to a minute, so a crash loop neither spins nor gives up.
    """
    if consecutive_failures <= 0:
        return 0.0
    return min(cap, base * 2 ** (consecutive_failures - 1))
