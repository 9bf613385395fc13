"""The deployment's supervisor: one process that starts every service, watches it and restarts it.

`purehealth deploy up` starts it detached (`python -m purehealth_pipelines.deploy.supervisor STATE_DIR`); it
reads `config.json` from the state folder and then, until SIGTERM:

- starts each service of `topology.services()` in its own process group, stdout+stderr appended to
  `logs/<service>.log`, its pid in `pids/<service>.pid`;
- probes each one's health every few seconds (`health.py`) and writes everything to `state.json`, which
  `purehealth deploy status` prints;
- restarts a process that exited, after 1, 2, 4 ... 60 s (reset once it stayed up a minute);
- restarts a service on request (`control/restart-<service>`, written by `purehealth deploy restart`);
- fails the runs whose worker process is gone (`runs.py`), so run_retries launches them again;
- on SIGTERM stops the services in reverse order (SIGTERM, then SIGKILL after the service's timeout) and
  every process group it ever started, so nothing is left behind.

A process group outlives its leader: the code server's run workers are in its group, and a run in flight
finishes after the code server died or was restarted. Such groups are kept in `state.json` as `draining`
until their last process exits, and `down` ends them too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from purehealth_pipelines.deploy import health, runs
from purehealth_pipelines.deploy.topology import (
    DeployConfig,
    ServiceSpec,
    prepare_dagster_home,
    restart_delay,
    services,
)

log = logging.getLogger("purehealth_pipelines.deploy")

LOOP_S = 0.5
HEALTH_EVERY_S = 2.0
STABLE_AFTER_S = 60.0  # a process up this long has recovered: its next crash restarts it after 1 s again
RUN_CHECK_EVERY_S = 5.0  # how often STARTED runs are checked for a worker that is gone
# A run is failed for run_retries only once the code server has served this long: the daemon's retry needs
# the code location (its execution plan) and tries once; failing the run while the code server restarts
# would spend the retry on "code server unreachable".
CODE_SERVER_SETTLED_S = 10.0
CODE_SERVER_READY_S = 300.0  # the daemon and webservers start once the code server serves (or after this)


@dataclass
class Service:
    """One supervised process and what the supervisor knows of it."""

    spec: ServiceSpec
    log_path: Path
    proc: subprocess.Popen | None = None
    started_at: float | None = None
    restarts: int = 0
    failures_in_a_row: int = 0
    next_start_at: float | None = 0.0
    healthy: bool = False
    detail: str = "not started"
    last_exit: int | None = None
    ever_healthy: bool = False
    healthy_since: float | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def snapshot(self) -> dict:
        return {
            "pid": self.proc.pid if self.alive() else None,
            "pgid": self.proc.pid if self.proc is not None else None,
            "started_at": self.started_at if self.alive() else None,
            "restarts": self.restarts,
            "healthy": self.alive() and self.healthy,
            "state": self.state(),
            "detail": self.detail,
            "last_exit": self.last_exit,
            "address": self.spec.address,
            "log": str(self.log_path),
        }

    def state(self) -> str:
        if self.alive():
            return "healthy" if self.healthy else ("unhealthy" if self.ever_healthy else "starting")
        if self.next_start_at is None:
            return "stopped"
        return "backoff" if self.proc is not None else "pending"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (Linux /proc); zombies do not count."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def end_group(pgid: int, timeout: float) -> None:
    """SIGTERM a process group, then SIGKILL whatever of it is left after `timeout` seconds."""
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if group_members(pgid):
        signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def write_json(path: Path, value: object) -> None:
    """Atomically: a reader (`deploy status`) never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


class Supervisor:
    def __init__(self, config: DeployConfig) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        for sub in ("logs", "pids", "control", "storage", "compute_logs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        self.services = [
            Service(spec, self.state_dir / "logs" / f"{spec.name}.log") for spec in services(config)
        ]
        self.draining: set[int] = set()  # process groups whose leader is gone but members are not
        self.stop_requested = False
        self.started_at = time.time()
        self._instance = None
        self._instance_lock = threading.Lock()  # the health probe and the run check share one instance
        self._probes: dict[str, tuple[int, Future]] = {}  # service -> (pid probed, probe in flight)
        self._last_probe: dict[str, float] = {}
        self._last_run_check = time.monotonic()
        self._run_check = None  # the Future of the run check in flight
        self._pool = ThreadPoolExecutor(max_workers=len(self.services) + 2)

    # --- processes ------------------------------------------------------------------------------------
    def start(self, service: Service) -> None:
        spec = service.spec
        with open(service.log_path, "ab") as out:
            out.write(
                f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting: {' '.join(spec.argv)}\n".encode()
            )
            out.flush()
            service.proc = subprocess.Popen(
                spec.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops what it started
                cwd=self.state_dir,
            )
        service.started_at = time.time()
        service.next_start_at = None
        service.healthy = service.ever_healthy = False
        service.healthy_since = None
        service.detail = "starting"
        (self.state_dir / "pids" / f"{spec.name}.pid").write_text(f"{service.proc.pid}\n")
        log.info("started %s (pid %d)", spec.name, service.proc.pid)

    def stop(self, service: Service, *, whole_group: bool = True) -> None:
        """Stop a service. `whole_group=False` (a restart of the code server) signals only its leader and
        lets the rest of its group — run workers — finish as a draining group.
        """
        if service.proc is None:
            return
        pgid = service.proc.pid
        if whole_group:
            end_group(pgid, service.spec.stop_timeout)
        else:
            with contextlib.suppress(ProcessLookupError):
                service.proc.terminate()
            try:
                service.proc.wait(service.spec.stop_timeout)
            except subprocess.TimeoutExpired:
                service.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.proc.wait(5)
        service.last_exit = service.proc.returncode
        if not whole_group and group_members(pgid):
            self.draining.add(pgid)
        (self.state_dir / "pids" / f"{service.spec.name}.pid").unlink(missing_ok=True)
        service.healthy = False

    def reap(self, service: Service, now: float) -> None:
        """A process that exited by itself: note it and schedule its restart with backoff."""
        proc = service.proc
        assert proc is not None
        service.last_exit = proc.returncode
        uptime = now - (service.started_at or now)
        service.failures_in_a_row = 1 if uptime >= STABLE_AFTER_S else service.failures_in_a_row + 1
        delay = restart_delay(service.failures_in_a_row)
        service.next_start_at = now + delay
        service.restarts += 1
        service.healthy = False
        service.detail = f"exited with {proc.returncode} after {uptime:.0f} s; restart in {delay:.0f} s"
        if group_members(proc.pid):
            self.draining.add(proc.pid)  # e.g. run workers of a crashed code server: let them finish
        (self.state_dir / "pids" / f"{service.spec.name}.pid").unlink(missing_ok=True)
        log.warning("%s (pid %d) %s", service.spec.name, proc.pid, service.detail)

    # --- health ---------------------------------------------------------------------------------------
    def instance(self):
        with self._instance_lock:
            if self._instance is None:
                import dagster as dg

                self._instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(self.state_dir)))
            return self._instance

    def probe(self, service: Service) -> tuple[bool, str]:
        instance = None
        if service.spec.probe.kind == "daemon":
            try:
                instance = self.instance()
            except Exception as exc:
                return False, f"cannot open the Dagster instance: {exc.__class__.__name__}: {exc}"[:200]
        return health.check(service.spec.probe, started_at=service.started_at or 0.0, instance=instance)

    def check_health(self) -> None:
        """Start a probe of each live process whose last one is done and due; apply the probes that
        finished. Probes run in threads, so a hung one (a code server that accepts but never answers) holds
        up neither the other probes nor the loop that restarts exited processes.
        """
        now = time.monotonic()
        for service in self.services:
            name = service.spec.name
            probe = self._probes.get(name)
            if probe is not None and probe[1].done():
                del self._probes[name]
                pid, future = probe
                if service.alive() and service.proc.pid == pid:  # not a probe of a replaced process
                    self.apply_probe(service, *future.result())
            due = now - self._last_probe.get(name, 0.0) >= HEALTH_EVERY_S
            if service.alive() and name not in self._probes and due:
                self._last_probe[name] = now
                self._probes[name] = (service.proc.pid, self._pool.submit(self.probe, service))

    @staticmethod
    def apply_probe(service: Service, ok: bool, detail: str) -> None:
        if ok and not service.healthy:
            log.info("%s is healthy: %s", service.spec.name, detail)
            service.healthy_since = time.monotonic()
        service.healthy, service.detail = ok, detail
        service.ever_healthy |= ok
        if not ok:
            service.healthy_since = None

    def check_runs(self) -> None:
        try:
            for orphan in runs.fail_orphaned_runs(self.instance()):
                log.warning(
                    "run %s (%s): worker pid %d is gone; marked failed for run_retries",
                    orphan.run_id,
                    orphan.job_name,
                    orphan.worker_pid,
                )
        except Exception:  # the instance database is down: next time
            log.exception("could not check the STARTED runs")

    # --- control --------------------------------------------------------------------------------------
    def handle_requests(self) -> None:
        for request in sorted((self.state_dir / "control").glob("restart-*")):
            name = request.name.removeprefix("restart-")
            request.unlink(missing_ok=True)
            service = next((s for s in self.services if s.spec.name == name), None)
            if service is None:
                log.warning("restart requested for unknown service %r", name)
                continue
            log.info("restarting %s on request", name)
            self.stop(service, whole_group=name != "code-server")
            service.failures_in_a_row = 0
            service.restarts += 1
            self.start(service)

    def write_state(self) -> None:
        self.draining = {pgid for pgid in self.draining if group_members(pgid)}
        write_json(
            self.state_dir / "state.json",
            {
                "supervisor_pid": os.getpid(),
                "started_at": self.started_at,
                "updated_at": time.time(),
                "stopping": self.stop_requested,
                "services": {s.spec.name: s.snapshot() for s in self.services},
                "draining_groups": sorted(self.draining),
            },
        )

    # --- main loop ------------------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        self.stop_requested = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        (self.state_dir / "supervisor.pid").write_text(f"{os.getpid()}\n")
        code_server = self.services[0]
        self.start(code_server)
        ready_by = time.monotonic() + CODE_SERVER_READY_S
        try:
            # The webservers and the daemon load the code location from the code server: start them once
            # it serves, so they do not begin with a load error.
            while not self.stop_requested and time.monotonic() < ready_by and not code_server.healthy:
                self.tick(only=[code_server])
                time.sleep(LOOP_S)
            while not self.stop_requested:
                self.tick(only=self.services)
                time.sleep(LOOP_S)
        finally:
            self.shutdown()
        return 0

    def tick(self, only: list[Service]) -> None:
        now = time.time()
        for service in only:
            if service.proc is not None and service.proc.poll() is not None and service.next_start_at is None:
                self.reap(service, now)
            if not service.alive() and service.next_start_at is not None and now >= service.next_start_at:
                self.start(service)
        self.handle_requests()
        self.check_health()
        run_check_idle = self._run_check is None or self._run_check.done()
        code_server = self.services[0]
        settled = (
            code_server.alive()
            and code_server.healthy
            and code_server.healthy_since is not None
            and time.monotonic() - code_server.healthy_since >= CODE_SERVER_SETTLED_S
        )
        if settled and run_check_idle and time.monotonic() - self._last_run_check >= RUN_CHECK_EVERY_S:
            self._last_run_check = time.monotonic()
            self._run_check = self._pool.submit(self.check_runs)
        self.write_state()

    def shutdown(self) -> None:
        """Stop everything at once: SIGTERM to every group, then SIGKILL to what is left after each one's
        timeout (one after another, a clean stop took the sum of every process's shutdown).
        """
        log.info("stopping every service")
        self.stop_requested = True
        groups = {s.proc.pid: s.spec.stop_timeout for s in self.services if s.proc is not None}
        groups |= {pgid: 15.0 for pgid in self.draining}
        started = time.monotonic()
        for pgid in groups:
            signal_group(pgid, signal.SIGTERM)
        while time.monotonic() - started < max(groups.values(), default=0):
            left = [g for g, timeout in groups.items() if group_members(g)]
            if not left:
                break
            for pgid in left:
                if time.monotonic() - started >= groups[pgid]:
                    signal_group(pgid, signal.SIGKILL)
            time.sleep(0.2)
        for pgid in groups:
            if group_members(pgid):
                end_group(pgid, 0.0)
        for service in self.services:
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(5)
                service.last_exit = service.proc.returncode
            (self.state_dir / "pids" / f"{service.spec.name}.pid").unlink(missing_ok=True)
            service.next_start_at = None
            service.healthy = False
            service.detail = "stopped"
        self.write_state()
        self._pool.shutdown(wait=False)
        (self.state_dir / "supervisor.pid").unlink(missing_ok=True)
        log.info("all stopped in %.1f s", time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m purehealth_pipelines.deploy.supervisor STATE_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = DeployConfig.load(Path(args[0]))
    return Supervisor(config).run()


if __name__ == "__main__":
    sys.exit(main())
