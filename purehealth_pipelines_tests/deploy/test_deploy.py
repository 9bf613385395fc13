"""`purehealth deploy`: the whole one-host topology for real, then killed piece by piece.

One deployment for the module (starting it costs most of the time): every process of the production
topology on free ports, Dagster storage in a scratch purehealth_test_* database, the warehouse the module's
own, the bridge on a private test/ topic tree. The code server serves `location.py` (a job that waits on a
file, a sensor that moves its cursor on each slow tick) rather than the project's code location, whose
sensors and schedules would start work against the test warehouse. The tests run in file order: up,
two webservers, the code server killed mid-run (alone, then with its run worker), the daemon killed
mid-tick, down.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from purehealth_pipelines import settings
from purehealth_pipelines.deploy.supervisor import group_members
from purehealth_pipelines.deploy.topology import DeployConfig, dagster_home, environment
from purehealth_pipelines_tests.conftest import create_test_database, drop_test_database
from purehealth_pipelines_tests.live.helpers import free_port, tools_mqtt_args, unique, wait_for

SERVICES = ["code-server", "daemon", "webserver-1", "webserver-2", "bridge", "broadcaster", "api", "notify"]
LOCATION = "purehealth_pipelines"
REPOSITORY = "__repository__"


def psycopg2_url(conninfo: str) -> str:
    """The test database as the URL dagster-postgres wants (psycopg2 driver named)."""
    p = conninfo_to_dict(conninfo)
    return f"postgresql+psycopg2://{p['user']}:{p['password']}@{p['host']}:{p['port']}/{p['dbname']}"


@dataclass
class Deployment:
    state_dir: Path
    test_dir: Path
    env: dict[str, str]
    webserver_ports: tuple[int, int]
    up_output: str
    up_returncode: int

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "purehealth_pipelines.cli",
                "deploy",
                *args,
                "--state-dir",
                str(self.state_dir),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=settings.project_root(),
        )

    def state(self) -> dict:
        return json.loads((self.state_dir / "state.json").read_text())

    def service(self, name: str) -> dict:
        return self.state()["services"][name]

    @contextlib.contextmanager
    def instance(self):
        """The deployment's Dagster instance, with its environment while open (the yaml reads it lazily)."""
        import dagster as dg

        saved = dict(os.environ)
        os.environ.update(environment(DeployConfig.load(self.state_dir), base={}))
        try:
            instance = dg.DagsterInstance.from_config(str(dagster_home(self.state_dir)))
            try:
                yield instance
            finally:
                instance.dispose()
        finally:
            os.environ.clear()
            os.environ.update(saved)


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

RUNS = """{ runsOrError { ... on Runs { results { runId status jobName } } } }"""


def launch_wait_run(deployment: Deployment, port: int, release_file: Path) -> str:
    """Launch `wait_job` through a webserver (queued; the daemon launches it through the code server)."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": "wait_job"},
        "runConfigData": {"ops": {"wait_for_release": {"config": {"release_file": str(release_file)}}}},
    }
    result = graphql(port, LAUNCH, {"params": params})["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def runs_seen_by(port: int) -> dict[str, str]:
    return {r["runId"]: r["status"] for r in graphql(port, RUNS)["runsOrError"]["results"]}


def run_status(port: int, run_id: str) -> str:
    return runs_seen_by(port).get(run_id, "MISSING")


def wait_started(deployment: Deployment, run_id: str) -> int:
    """Wait until the run's op is executing; returns the op's process id (written by the op)."""
    marker = deployment.test_dir / f"run-{run_id}.pid"
    wait_for(marker.exists, 120, 0.5, what=f"run {run_id} executing its op")
    return int(marker.read_text())


@pytest.fixture(scope="module")
def deployment(admin_url: str, module_warehouse_url: str, tmp_path_factory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("deploy")
    state_dir, test_dir = base / "state", base / "t"
    test_dir.mkdir()
    dagster_db = create_test_database(admin_url, migrated=False)
    ports = [free_port() for _ in range(7)]
    while len(set(ports)) < 7:
        ports = [free_port() for _ in range(7)]
    webservers = (ports[0], ports[1])
    env = dict(
        os.environ,
        PYTHONPATH=str(settings.project_root()),
        PUREHEALTH_WAREHOUSE_URL=module_warehouse_url,
        PUREHEALTH_DEPLOY_TEST_DIR=str(test_dir),
    )
    env.pop("DAGSTER_HOME", None)
    topic_root = f"test/{unique('DEPLOY')}/purehealth/v1"
    bridge_args = ["--client-id", unique("deploy-bridge"), "--topic-root", topic_root,
                   "--session-expiry", "60", *tools_mqtt_args()]  # fmt: skip
    up_args = [
        "up",
        "--webserver-port", str(webservers[0]), "--webserver-port", str(webservers[1]),
        "--code-server-port", str(ports[2]), "--bridge-port", str(ports[3]),
        "--broadcaster-port", str(ports[4]), "--api-port", str(ports[5]),
        "--dagster-pg-url", psycopg2_url(dagster_db),
        "--code-module", "purehealth_pipelines_tests.deploy.location",
        "--ws-token", "deploy-test-token",
        *(f"--bridge-arg={arg}" for arg in bridge_args),
        "--wait", "240",
    ]  # fmt: skip
    deployment = Deployment(state_dir, test_dir, env, webservers, "", -1)
    try:
        done = deployment.cli(*up_args, timeout=300)
        deployment.up_output, deployment.up_returncode = done.stdout + done.stderr, done.returncode
        yield deployment
    finally:
        deployment.cli("down", timeout=180)
        drop_test_database(admin_url, dagster_db)


def test_up_starts_every_process_and_status_reports_each(deployment: Deployment) -> None:
    assert deployment.up_returncode == 0, deployment.up_output
    done = deployment.cli("status")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert sorted(lines) == sorted(SERVICES)
    state = deployment.state()
    for name in SERVICES:
        service = state["services"][name]
        assert service["healthy"], (name, service)
        assert f" {service['pid']} " in lines[name] and "healthy" in lines[name]
        assert int((deployment.state_dir / "pids" / f"{name}.pid").read_text()) == service["pid"]
        assert group_members(service["pgid"]), name  # really running
        assert Path(service["log"]).exists()
    assert state["services"]["daemon"]["detail"].endswith("daemons heartbeating")


def test_two_webservers_serve_the_same_runs(deployment: Deployment) -> None:
    release = deployment.test_dir / "release-both"
    release.touch()
    first, second = deployment.webserver_ports
    run_id = launch_wait_run(deployment, first, release)  # launched through the first
    wait_for(
        lambda: run_status(second, run_id) == "SUCCESS", 180, 1, what=f"the second to see {run_id} succeed"
    )
    seen_first, seen_second = runs_seen_by(first), runs_seen_by(second)
    assert seen_first[run_id] == "SUCCESS"
    assert seen_first == seen_second


def test_code_server_killed_mid_run_the_run_completes(deployment: Deployment) -> None:
    release = deployment.test_dir / "release-k9"
    port = deployment.webserver_ports[0]
    run_id = launch_wait_run(deployment, port, release)
    wait_started(deployment, run_id)
    before = deployment.service("code-server")
    os.kill(before["pid"], signal.SIGKILL)  # the code server process itself, mid-run
    wait_for(
        lambda: (s := deployment.service("code-server"))["healthy"] and s["pid"] != before["pid"],
        120,
        0.5,
        what="the supervisor restarting the code server",
    )
    assert deployment.service("code-server")["restarts"] == before["restarts"] + 1
    assert run_status(port, run_id) == "STARTED"
    release.touch()
    wait_for(lambda: run_status(port, run_id) == "SUCCESS", 120, 1, what=f"run {run_id} to succeed")
    # What the killed code server left running (its gRPC child) is listed as draining until it exits by
    # itself; `down` ends it otherwise (test_down_stops_every_process).
    assert before["pgid"] in deployment.state()["draining_groups"] or not group_members(before["pgid"])


def test_code_server_killed_with_its_run_worker_the_run_is_retried(deployment: Deployment) -> None:
    release = deployment.test_dir / "release-group"
    port = deployment.webserver_ports[1]
    run_id = launch_wait_run(deployment, port, release)
    wait_started(deployment, run_id)
    code_server = deployment.service("code-server")
    os.killpg(code_server["pgid"], signal.SIGKILL)  # the code server and the run worker it started
    release.touch()
    # Without the supervisor's run check the run would stay STARTED forever (the default run launcher
    # cannot see its workers); with it the run fails and run_retries launches it again.
    wait_for(lambda: run_status(port, run_id) == "FAILURE", 120, 1, what=f"run {run_id} marked failed")
    with deployment.instance() as instance:
        import dagster as dg

        def retry_succeeded() -> bool:
            retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
            return any(r.status == dg.DagsterRunStatus.SUCCESS for r in retries)

        wait_for(retry_succeeded, 180, 1, what=f"a retry of {run_id} to succeed")
        failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "run worker" in failure[-1].dagster_event.message
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert not started  # no run is left behind in STARTED


def _sensor_state(instance):
    from dagster._core.definitions.run_request import InstigatorType

    (state,) = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.name == "counting_sensor"
    ]
    return state


def _cursor(instance) -> int:
    data = _sensor_state(instance).instigator_data
    return int(data.cursor or 0) if data is not None else 0


def test_daemon_killed_mid_tick_keeps_the_sensor_cursor(deployment: Deployment) -> None:
    marker = deployment.test_dir / "evaluating"
    with deployment.instance() as instance:
        wait_for(lambda: _cursor(instance) >= 2, 120, 0.5, what="the sensor to have ticked twice")
        release = deployment.test_dir / "release-queued"
        release.touch()
        # Queued now, launched by the daemon: before or (more likely) after it is killed below.
        queued = launch_wait_run(deployment, deployment.webserver_ports[0], release)
        wait_for(marker.exists, 60, 0.1, what="a sensor tick in flight")
        cursor_in_flight = int(marker.read_text() or 0)
        daemon = deployment.service("daemon")
        os.kill(daemon["pid"], signal.SIGKILL)  # mid-tick: the tick started, its cursor not yet stored
        stored = _cursor(instance)
        assert stored == cursor_in_flight  # the last completed tick's cursor is in the instance database
        wait_for(
            lambda: (s := deployment.service("daemon"))["healthy"] and s["pid"] != daemon["pid"],
            150,
            1,
            what="the supervisor restarting the daemon",
        )
        wait_for(
            lambda: _cursor(instance) >= stored + 2, 120, 1, what="the sensor ticking on after the restart"
        )
        # The run queued as the daemon died is launched by the new one (the queue is in the database).
        port = deployment.webserver_ports[0]
        wait_for(
            lambda: run_status(port, queued) == "SUCCESS", 180, 1, what=f"queued run {queued} to succeed"
        )
        state = _sensor_state(instance)
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=200)
        cursors = sorted(int(t.cursor) for t in ticks if t.cursor is not None)
    # Every completed tick moved the cursor on by one from where the previous one left it: the restart
    # resumed from the stored cursor (a lost cursor would start again at 1 and repeat values).
    assert len(cursors) == len(set(cursors)), cursors
    assert cursors == list(range(cursors[0], cursors[0] + len(cursors))), cursors
    assert max(cursors) >= stored + 2


def test_restart_one_service_on_request(deployment: Deployment) -> None:
    before = deployment.service("api")
    done = deployment.cli("restart", "api", "--wait", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    after = deployment.service("api")
    assert after["pid"] != before["pid"] and after["healthy"]
    assert not group_members(before["pgid"])


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_down_stops_every_process(deployment: Deployment) -> None:
    state = deployment.state()
    groups = {s["pgid"] for s in state["services"].values()} | set(state["draining_groups"])
    supervisor = state["supervisor_pid"]
    done = deployment.cli("down", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [g for g in groups if group_members(g)]  # no orphan: every group is empty
    assert not group_members(supervisor)
    # Gone, or a zombie: once `up` has exited the supervisor's parent is PID 1, which in a container may
    # reap late or never; a zombie runs nothing and holds no port.
    wait_for(lambda: not _running(supervisor), 30, 0.5, what=f"supervisor {supervisor} exited")
    status = deployment.cli("status")
    assert status.returncode == 3 and "down" in status.stdout
    for port in deployment.webserver_ports:
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)


def test_up_refuses_a_bad_configuration(deployment: Deployment, tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "purehealth_pipelines.cli",
            "deploy",
            "up",
            "--state-dir",
            str(tmp_path),
            "--webserver-port",
            str(port),
            "--api-port",
            str(port),
            "--no-live-path",
            "--dagster-pg-url",
            "postgresql://x@127.0.0.1/nothing",
        ],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "ports used twice" in done.stderr and "psycopg2" in done.stderr
    assert not (tmp_path / "supervisor.pid").exists()
