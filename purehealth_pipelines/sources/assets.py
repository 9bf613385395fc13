"""The five raw source assets: thin Dagster wrappers around sources.collect + sources.commit.

Each asset works on `context.partition_time_window` (a single-run backfill writes the whole range with one
partition write), commits rows and dead letters in one transaction, and reports row counts, dead-letter
counts and the table schema.
"""

from datetime import timedelta
from typing import Any

import dagster as dg

from purehealth_pipelines import partitions
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.sources import collect
from purehealth_pipelines.sources.commit import commit_source_window
from purehealth_pipelines.sources.resources import EarthEngineResource, GovSourcesResource
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


@dg.asset(
    key=["raw", "cpcb_nwmp"],
    partitions_def=partitions.yearly,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=550), warn_window=timedelta(days=430)
    ),
    description=(
        "CPCB NWMP yearly river tables (annual Min/Max per parameter per station), from the CPCB "
        "yearly CSV or "
        "the data.gov.in OGD API; censored values kept ('BDL' -> '<'); malformed records "
        "in ops.dead_letters. "
        "Maharashtra stations, station_id 'NWMP-<code>'."
    ),
    **COMMON,
)
def cpcb_nwmp(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, gov_sources: GovSourcesResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    return _materialize(context, warehouse, collect.collect_cpcb_nwmp(gov_sources, window.start, window.end))


@dg.asset(
    key=["raw", "mpcb_monthly"],
    partitions_def=partitions.monthly,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=75), warn_window=timedelta(days=45)
    ),
    description=(
        "MPCB monthly station tables (pH, BOD, DO, total and fecal coliform, COD, nitrate, conductivity, "
        "temperature, … by month, per financial year; units read from the table); coliform at "
        "the MPN table's top (1600/1800) stored censored '>'."
    ),
    **COMMON,
)
def mpcb_monthly(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, gov_sources: GovSourcesResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    return _materialize(context, warehouse, collect.collect_mpcb(gov_sources, window.start, window.end))


@dg.asset(
    key=["raw", "cwc_river_levels"],
    partitions_def=partitions.daily,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=2), warn_window=timedelta(hours=30)
    ),
    description=(
        "CWC river water level (m) and discharge (m³/s) from the India-WRIS Dataset API, per district."
    ),
    **COMMON,
)
def cwc_river_levels(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, gov_sources: GovSourcesResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    return _materialize(context, warehouse, collect.collect_cwc(gov_sources, window.start, window.end))


@dg.asset(
    key=["raw", "imd_rainfall"],
    partitions_def=partitions.daily,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=3), warn_window=timedelta(days=2)
    ),
    description=(
        "IMD gridded daily rainfall (0.25°) and Tmax/Tmin (1°) .grd files, bilinearly interpolated to every "
        "station with coordinates. Temperature sea cells (99.9) masked; an archive file must be a whole year."
    ),
    **COMMON,
)
def imd_rainfall(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, gov_sources: GovSourcesResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    return _materialize(context, warehouse, collect.collect_imd(gov_sources, window.start, window.end))


@dg.asset(
    key=["raw", "satellite_indices"],
    partitions_def=partitions.weekly,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=16), warn_window=timedelta(days=9)
    ),
    description=(
        "Earth Engine Sentinel-2 SR harmonized and Landsat 8/9 C2 L2: cloud-masked NDWI, MNDWI, NDTI, "
        "NDCI and "
        "chl-a (Mishra & Mishra 2012) over a buffer around each located station, "
        "with clear-water pixel counts."
    ),
    **COMMON,
)
def satellite_indices(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, earth_engine: EarthEngineResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    return _materialize(context, warehouse, collect.collect_satellite(earth_engine, window.start, window.end))


SOURCE_ASSETS = [cpcb_nwmp, mpcb_monthly, cwc_river_levels, imd_rainfall, satellite_indices]
