"""great-expectations 1.x suites on each raw source asset, inside Dagster @asset_checks.

dagster-ge needs GX < 1 (docs/stack_notes.md), so each check runs its own ephemeral GX context. GX is imported
inside the check (its import costs seconds) with progress bars off. Checks validate the rows of the run's
partition window (or, run alone, the latest 100k rows). Blocking checks stop downstream assets (core
readings) from consuming a partition that would poison them: wrong types, duplicate keys, impossible values.
"""

from typing import Any

import dagster as dg
import pandas as pd

from purehealth_pipelines.gx_context import ephemeral_context
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.sources.assets import ASSETS
from purehealth_pipelines.sources.publishers import PUBLISHERS, Publisher, SuiteSpec
from purehealth_pipelines.table_metadata import json_safe


def validate_frame(frame: pd.DataFrame, spec: SuiteSpec) -> tuple[bool, list[dict[str, Any]]]:
    """Run the suite on a DataFrame; returns (success, per-expectation summaries). Pure apart from GX."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = ephemeral_context()
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(spec.table)
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"{spec.table}_suite"))
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=spec.min_rows))
    for column in [*spec.key_columns, "value", "unit"]:
        if column != "value":
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    for column in spec.text_columns:
        suite.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=column, type_="str"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInTypeList(column="value", type_list=["float64", "Float64"])
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="parameter", value_set=spec.parameters))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=spec.key_columns))
    for parameter, (low, high) in spec.ranges.items():
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column="value",
                min_value=low,
                max_value=high,
                row_condition=f'parameter=="{parameter}"',
                condition_parser="pandas",
            )
        )
    # Completeness: uncensored rows must carry a value (a censored 'BDL' may not).
    suite.add_expectation(
        gxe.ExpectColumnValuesToNotBeNull(
            column="value", row_condition="censored.isnull()", condition_parser="pandas"
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=batch, suite=suite)
    )
    result = validation.run(batch_parameters={"dataframe": frame})
    summaries = []
    for r in result.results:
        exception = r.exception_info if isinstance(r.exception_info, dict) else {}
        summaries.append(
            {
                "expectation": r.expectation_config.type,
                "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k not in ("batch_id",)},
                "success": bool(r.success),
                "unexpected_count": r.result.get("unexpected_count"),
                "error": exception.get("exception_message") if exception.get("raised_exception") else None,
            }
        )
    return bool(result.success), summaries


def _read_window(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, table: str
) -> pd.DataFrame:
    if context.has_partition_key or context.has_partition_key_range:
        window = context.partition_time_window
        frame = warehouse.read_frame(
            f"SELECT * FROM {table} WHERE ts >= %s AND ts < %s", (window.start, window.end)
        )
    else:
        frame = warehouse.read_frame(f"SELECT * FROM {table} ORDER BY ts DESC LIMIT 100000")
    for column in frame.columns:
        if frame[column].dtype == object and column not in ("ts", "ingested_at"):
            frame[column] = frame[column].astype("str").where(frame[column].notna())
    if "value" in frame:
        frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    return frame


def build_check(publisher: Publisher) -> dg.AssetChecksDefinition:
    spec, blocking = publisher.suite, publisher.check_blocking

    @dg.asset_check(
        asset=ASSETS[publisher.name],
        name=f"{publisher.name}_gx_suite",
        blocking=blocking,
        description=(
            f"great-expectations suite on {spec.table}: types, value ranges per parameter, unique keys "
            f"({', '.join(spec.key_columns)}), completeness." + (" Blocking." if blocking else "")
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        frame = _read_window(context, warehouse, spec.table)
        success, summaries = validate_frame(frame, spec)
        failed = [s for s in summaries if not s["success"]]
        return dg.AssetCheckResult(
            passed=success,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_checked": len(frame),
                "expectations": len(summaries),
                "failed": len(failed),
                "failures": dg.MetadataValue.json(json_safe(failed)),
            },
        )

    return _check


CHECKS: dict[str, dg.AssetChecksDefinition] = {name: build_check(spec) for name, spec in PUBLISHERS.items()}
SOURCE_CHECKS = list(CHECKS.values())
