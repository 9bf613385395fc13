"""great-expectations checks on core.readings, run inside a Dagster @asset_check.

dagster-ge does not support GX 1.x (docs/stack_notes.md), so the suite is built here with GX's own API on an
ephemeral context. GX is imported inside the function (2–3 s import) and its progress bars are off.
The check validates the most recently materialised partition of core.readings.
"""

from typing import Any

import dagster as dg
import pandas as pd

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS
from purehealth_pipelines.gx_context import ephemeral_context
from purehealth_pipelines.quality.qartod import QC_COLUMNS
from purehealth_pipelines.quality.unify import CANONICAL_UNITS
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.table_metadata import json_safe
from purehealth_pipelines.warehouse.reader import read_frame

VALID_FLAGS = [1, 2, 3, 4, 9]


def validate_core_readings(frame: pd.DataFrame) -> tuple[bool, list[dict[str, Any]]]:
    """Flags valid, key unique, one canonical unit per parameter, approval status known.

    Returns (success, one result dict per expectation) — plain JSON, ready for Dagster metadata.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = ephemeral_context()
    source = context.data_sources.add_pandas("core_readings")
    asset = source.add_dataframe_asset("partition")
    batch_definition = asset.add_batch_definition_whole_dataframe("batch")
    suite = gx.ExpectationSuite(name="core_readings")
    suite.add_expectation(
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["station_id", "parameter", "ts", "source"])
    )
    for column in ("qc_flag", *QC_COLUMNS):
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=VALID_FLAGS))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="qc_flag"))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesToBeInSet(
            column_A="parameter",
            column_B="unit",
            value_pairs_set=[(p, u) for p, u in CANONICAL_UNITS.items()],
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(column="approval_status", value_set=["provisional", "approved"])
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="censored", value_set=["<", ">"]))
    suite = context.suites.add(suite)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite)
    details = []
    for item in result.results:
        config = item.expectation_config
        details.append(
            json_safe(
                {
                    "expectation": config.type,
                    "column": config.kwargs.get("column")
                    or config.kwargs.get("column_list")
                    or [config.kwargs.get("column_A"), config.kwargs.get("column_B")],
                    "success": bool(item.success),
                    "unexpected_count": item.result.get("unexpected_count"),
                    "partial_unexpected_list": [
                        str(v) for v in (item.result.get("partial_unexpected_list") or [])
                    ][:5],
                    "exception": (item.exception_info or {}).get("exception_message"),
                }
            )
        )
    return bool(result.success), details


@dg.asset_check(
    asset=CORE_READINGS,
    name="great_expectations_suite",
    description=(
        "great-expectations suite on the latest materialised partition: QARTOD flags in {1,2,3,4,9}, "
        "(station_id, parameter, ts, source) unique, each parameter in its canonical unit, approval status "
        "known, censored markers valid."
    ),
    blocking=True,
)
def core_readings_expectations(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    event = context.instance.get_latest_materialization_event(CORE_READINGS)
    partition = event.dagster_event.partition if event and event.dagster_event else None
    if partition is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no materialised partition yet"})
    window = partitions.daily.time_window_for_partition_key(partition)
    with warehouse.connect() as conn:
        frame = read_frame(
            conn,
            "SELECT station_id, parameter, ts, source, unit, censored, qc_flag, "
            + ", ".join(QC_COLUMNS)
            + ", approval_status FROM core.readings WHERE ts >= %(start)s AND ts < %(end)s",
            {"start": window.start, "end": window.end},
        )
    success, details = validate_core_readings(frame)
    failed = [d for d in details if not d["success"]]
    return dg.AssetCheckResult(
        passed=success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "partition": partition,
            "rows_checked": len(frame),
            "expectations": len(details),
            "failed_expectations": dg.MetadataValue.json(failed),
        },
    )
