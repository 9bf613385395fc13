"""A small code location for the deployment tests: a job that waits on a file, a sensor with a cursor.

The deployment under test serves it from its gRPC code server instead of the project's (which would start
every production sensor and schedule against the test warehouse). Both read PUREHEALTH_DEPLOY_TEST_DIR,
which the test hands to the code server's environment.
"""

import os
import time
from pathlib import Path

import dagster as dg

SENSOR_SLEEP_S = 4.0  # a tick long enough to kill the daemon in the middle of it


def _test_dir() -> Path:
    return Path(os.environ["PUREHEALTH_DEPLOY_TEST_DIR"])


class WaitConfig(dg.Config):
    release_file: str
    max_wait_s: float = 240.0


@dg.op
def wait_for_release(context: dg.OpExecutionContext, config: WaitConfig) -> int:
    """Runs until the test creates `release_file`: a run that is in flight for as long as the test needs."""
    (_test_dir() / f"run-{context.run_id}.pid").write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + config.max_wait_s
    while not Path(config.release_file).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{config.release_file} did not appear in {config.max_wait_s} s")
        time.sleep(0.5)
    return os.getpid()


@dg.job(executor_def=dg.in_process_executor)  # one process per run: starts faster
def wait_job() -> None:
    wait_for_release()


@dg.sensor(job=wait_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def counting_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Each tick takes SENSOR_SLEEP_S and moves the cursor one on; `evaluating` exists while a tick runs."""
    cursor = int(context.cursor or 0)
    marker = _test_dir() / "evaluating"
    marker.write_text(f"{cursor}\n")
    time.sleep(SENSOR_SLEEP_S)
    context.update_cursor(str(cursor + 1))
    marker.unlink(missing_ok=True)
    return dg.SkipReason(f"cursor {cursor} -> {cursor + 1}")


defs = dg.Definitions(jobs=[wait_job], sensors=[counting_sensor])
