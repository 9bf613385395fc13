"""A run-failure sensor: every failed run of the code location is recorded in `ops.run_failures`.

Why: the marts follow live readings through an automation sensor whose ticks stay green whatever the runs
they request do — a mart that failed on every live tick showed nothing on the Automation tab.
This sensor's ticks name each failed run (the Automation tab lists them), and `ops.run_failures` keeps one row
per failed run with its assets, partition and error, and — in the same transaction — the notifications owed
to the operators' subscriptions (ops.alert_outbox, delivered by `purehealth notify`).
"""

from __future__ import annotations

import dagster as dg

from purehealth_pipelines.alerts.outbox import record_run_failure
from purehealth_pipelines.resources import WarehouseResource


def _partition(tags: dict[str, str]) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    return f"{start}..{end}" if start and end else None


@dg.run_failure_sensor(
    name="run_failures_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Records every failed run in ops.run_failures (assets, partition, error) and names it in "
    "its tick, so a failing mart behind the automation sensor's green ticks is visible.",
)
def run_failures_sensor(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    assets = sorted(key.to_user_string() for key in (run.asset_selection or []))
    message = context.failure_event.message or "run failed"
    for step_event in context.get_step_failure_events():
        error = step_event.event_specific_data.error if step_event.event_specific_data else None
        if error is not None:
            message = f"{step_event.step_key}: {error.message.strip()}"
            break
    values = {
        "run_id": run.run_id,
        "attempt": int(run.tags.get("dagster/retry_number", 0)),
        "job_name": run.job_name,
        "asset_keys": assets,
        "partition": _partition(dict(run.tags)),
        "message": message[:4000],
    }
    # the failure row and the operators' notifications commit together (the transactional outbox)
    with warehouse.connect() as conn:
        owed = record_run_failure(conn, values)
    context.log.warning(
        f"run {run.run_id[:8]} ({', '.join(assets) or run.job_name}) failed: {message[:300]}; "
        f"{owed} operator notification(s) owed"
    )


defs = dg.Definitions(sensors=[run_failures_sensor])
