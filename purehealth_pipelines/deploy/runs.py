"""No run stuck in STARTED: fail the runs whose worker process is gone, so run_retries launches them again.

On one host the code server launches each run worker as its own process (Dagster's default run launcher).
If that process dies — the code server's whole process group killed, the host's OOM killer, a `kill -9` —
nothing ever writes the run's end: the default launcher cannot check its workers, so Dagster's run
monitoring leaves such a run in STARTED forever. The worker's pid is in the run's event log ("Started process
for run (pid: N)"), so the supervisor, which runs on the same host, can look: a STARTED run whose worker pid
is no longer a live process is reported failed (reason: run worker gone), and the daemon's run-retry
(deploy/dagster.yaml, run_retries) starts it again. Past one host a run launcher that checks its workers
(Docker, Kubernetes) does this instead (README "Past one host").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OrphanedRun:
    run_id: str
    job_name: str
    worker_pid: int


def process_alive(pid: int) -> bool:
    """A live (not zombie) process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def worker_pid(instance, run_id: str) -> int | None:
    """The pid of the run's worker process, from the engine event the code server writes as it starts it."""
    from dagster import DagsterEventType

    pid = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        value = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if value is not None:
            pid = int(value.value)  # the last one: a resumed run has a new worker
    return pid


def find_orphaned_runs(instance, alive: Callable[[int], bool] = process_alive) -> list[OrphanedRun]:
    """STARTED runs whose worker pid is recorded and is not a live process."""
    from dagster import DagsterRunStatus, RunsFilter

    orphans = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        run = record.dagster_run
        pid = worker_pid(instance, run.run_id)
        if pid is not None and not alive(pid):
            orphans.append(OrphanedRun(run.run_id, run.job_name, pid))
    return orphans


def fail_orphaned_runs(instance, alive: Callable[[int], bool] = process_alive) -> list[OrphanedRun]:
    """Report each orphaned run failed (once: the run is re-read just before) and return them."""
    from dagster import DagsterRunStatus
    from dagster._core.events import JobFailureData, RunFailureReason

    failed = []
    for orphan in find_orphaned_runs(instance, alive):
        run = instance.get_run_by_id(orphan.run_id)
        if run is None or run.status != DagsterRunStatus.STARTED:
            continue  # it finished (its worker wrote the end) between the two reads
        instance.report_run_failed(
            run,
            message=f"The run worker (pid {orphan.worker_pid}) is gone without reporting the run's end "
            "(killed with its code server?); marked failed by the deployment supervisor so run_retries "
            "can launch it again.",
            job_failure_data=JobFailureData(error=None, failure_reason=RunFailureReason.RUN_WORKER_RESTART),
        )
        failed.append(orphan)
    return failed
