"""The raw source assets, one per publisher spec (sources/publishers.py): thin Dagster wrappers around the
spec's collect function and sources.commit.

Each asset works on `context.partition_time_window` (a single-run backfill writes the whole range with one
partition write), commits rows and dead letters in one transaction, and reports row counts, dead-letter
counts and the table schema.
"""

from typing import Any

import dagster as dg

from purehealth_pipelines import partitions
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.sources import collect
from purehealth_pipelines.sources.commit import commit_source_window
from purehealth_pipelines.sources.publishers import PUBLISHERS, Publisher
from purehealth_pipelines.table_metadata import json_safe, table_schema_metadata

COMMON: dict[str, Any] = {
    "group_name": "sources",
    "backfill_policy": partitions.single_run,
}


def _materialize(context: dg.AssetExecutionContext, warehouse: WarehouseResource, batch: collect.SourceBatch):
    window = context.partition_time_window
    commit = commit_source_window(
        warehouse,
        table=batch.table,
        source=batch.source,
        rows=batch.rows,
        dead_letters=batch.dead_letters,
        window_start=window.start,
        window_end=window.end,
    )
    context.log.info(
        f"{batch.table}: {commit.write.rows_written} rows written ({commit.write.rows_deleted} replaced), "
        f"{commit.dead_letters_written} dead letters for [{window.start}, {window.end})"
    )
    reasons = (
        batch.dead_letters["reason"].str.split(":").str[0].value_counts().to_dict()
        if len(batch.dead_letters)
        else {}
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": commit.write.rows_written,
        "dead_letters": commit.dead_letters_written,
        "dead_letters_by_reason": dg.MetadataValue.json(json_safe(reasons)),
        "stations": int(batch.rows["station_id"].nunique()) if len(batch.rows) else 0,
        "parameters": ", ".join(sorted(batch.rows["parameter"].unique())) if len(batch.rows) else "",
        "facts": dg.MetadataValue.json(json_safe(batch.facts)),
        **{f"write_{k}": v for k, v in commit.write.as_metadata().items() if k != "table"},
        **table_schema_metadata(warehouse, commit.write.table),
    }
    return dg.MaterializeResult(metadata=metadata)


def build_asset(publisher: Publisher) -> dg.AssetsDefinition:
    """The raw asset of a publisher: collect the partition window with the publisher's resource, commit it."""

    @dg.asset(
        key=publisher.key,
        partitions_def=publisher.partitions_def,
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=publisher.freshness_fail, warn_window=publisher.freshness_warn
        ),
        description=publisher.description,
        # By key, not by typed parameter: which source resource an asset needs is the publisher's data.
        required_resource_keys={"warehouse", publisher.resource_key},
        **COMMON,
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        window = context.partition_time_window
        source = getattr(context.resources, publisher.resource_key)
        batch = publisher.collect(source, window.start, window.end)
        return _materialize(context, context.resources.warehouse, batch)

    return _asset


ASSETS: dict[str, dg.AssetsDefinition] = {name: build_asset(spec) for name, spec in PUBLISHERS.items()}
SOURCE_ASSETS = list(ASSETS.values())
