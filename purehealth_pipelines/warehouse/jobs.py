"""Warehouse maintenance as a Dagster job: retention every night."""

import dagster as dg

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.vocabulary import TIMEZONE
from purehealth_pipelines.warehouse.retention import apply_retention


@dg.op(description="Apply ops.retention_policies: policies on TimescaleDB Community, drop_chunks on Apache.")
def apply_retention_policies(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    with warehouse.connect() as conn:
        actions = apply_retention(conn)
    for action in actions:
        context.log.info(
            f"{action.table}: keep {action.keep or 'forever'} via {action.method}"
            f" ({action.chunks_dropped} chunks dropped)"
        )
    context.add_output_metadata(
        {"chunks_dropped": sum(a.chunks_dropped for a in actions), "tables": len(actions)}
    )


@dg.job(description="Nightly warehouse maintenance (retention).", tags={"domain": "warehouse"})
def warehouse_maintenance() -> None:
    apply_retention_policies()


maintenance_schedule = dg.ScheduleDefinition(
    job=warehouse_maintenance, cron_schedule="30 2 * * *", execution_timezone=TIMEZONE
)

defs = dg.Definitions(jobs=[warehouse_maintenance], schedules=[maintenance_schedule])
