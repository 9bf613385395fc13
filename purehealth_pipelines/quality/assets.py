"""Dagster assets of the quality domain: core.readings (unified + QARTOD-scored) and the learned climatology.

Thin: the science is in quality.qartod / quality.unify, the I/O in quality.pipeline.
"""

import dagster as dg
import pandas as pd

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS, RAW_SENSOR_READINGS
from purehealth_pipelines.quality.climatology import CLIMATOLOGY_STATS_SQL, climatology_spans
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import (
    CORE_READINGS_COLUMNS,
    learn_drift_references,
    score_range,
)
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.table_metadata import json_safe, table_schema_metadata
from purehealth_pipelines.vocabulary import TIMEZONE
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import copy_frame

RAW_SOURCE_KEYS = [
    RAW_SENSOR_READINGS,
    dg.AssetKey(["raw", "cpcb_nwmp"]),
    dg.AssetKey(["raw", "mpcb_monthly"]),
    dg.AssetKey(["raw", "cwc_river_levels"]),
    dg.AssetKey(["raw", "imd_rainfall"]),
    dg.AssetKey(["raw", "satellite_indices"]),
]

CORE_READINGS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("station_id", "text", description="ref.stations.station_id"),
        dg.TableColumn("parameter", "text", description="canonical code (ref.parameters)"),
        dg.TableColumn("ts", "timestamptz"),
        dg.TableColumn("source", "text", description="iot, cwc, mpcb, imd, cpcb_nwmp_min/max, sentinel2, …"),
        dg.TableColumn("value", "double precision", description="in the canonical unit"),
        dg.TableColumn("unit", "text"),
        dg.TableColumn("censored", "text", description="'<' below detection, '>' above range"),
        dg.TableColumn(
            "qc_flag", "smallint", description="worst QARTOD flag: 1 pass 2 n/e 3 suspect 4 fail 9"
        ),
        *[
            dg.TableColumn(c, "smallint")
            for c in CORE_READINGS_COLUMNS
            if c.startswith("qc_") and c != "qc_flag" and c != "qc_version"
        ],
        dg.TableColumn("quality", "text", description="good / suspect / bad / missing / not evaluated"),
        dg.TableColumn("approval_status", "text", description="provisional until approved"),
        dg.TableColumn("qc_version", "text", description="thresholds version + climatology version"),
    ]
)


@dg.asset(
    key=["core", "readings"],
    deps=RAW_SOURCE_KEYS,
    partitions_def=partitions.daily,
    backfill_policy=partitions.single_run,
    group_name="quality",
    description=(
        "The canonical reading: every raw source (IoT sensors, CPCB NWMP, MPCB, CWC, IMD, satellite) unified "
        "to one row per station/parameter/time/source in canonical codes and units, censored lab values kept "
        "censored, scored with QARTOD tests (gap, syntax, gross range, monthly climatology, spike, rate of "
        "change, flat line; ioos_qc) and the model-based drift test (qc_drift: DO vs the saturation its "
        "temperature allows, per-station reference from core.qc_drift_reference) using "
        "quality/qartod_thresholds.yaml. qc_flag = worst per-test flag; "
        "approval_status starts provisional. core.readings_preferred picks IoT > government > satellite > "
        "model where several sources report the same instant. A re-run replaces the partition's rows."
    ),
)
def core_readings(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    config = load_config()
    window = context.partition_time_window

    def log_day(day_start: pd.Timestamp, summary) -> None:
        context.log.info(
            f"{day_start.tz_convert(TIMEZONE).date()}: {summary.rows_written} readings written "
            f"({summary.rows_replaced} replaced), quality {summary.flag_counts}, "
            f"{summary.dead_letters} dead letters; read {summary.seconds_read:.2f}s, "
            f"score {summary.seconds_score:.2f}s, write {summary.seconds_write:.2f}s"
        )

    summary = score_range(warehouse, window.start, window.end, config, progress=log_day)
    flag_table = "\n".join(f"| {label} | {count} |" for label, count in sorted(summary.flag_counts.items()))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.rows_written,
            "dagster/column_schema": CORE_READINGS_SCHEMA,
            "rows_replaced": summary.rows_replaced,
            "dead_letters": summary.dead_letters,
            "qc_version": summary.qc_version,
            "rows_per_source": json_safe(summary.per_source),
            "quality": dg.MetadataValue.md("| quality | readings |\n|---|---|\n" + flag_table),
            "seconds_read": round(summary.seconds_read, 3),
            "seconds_score": round(summary.seconds_score, 3),
            "seconds_write": round(summary.seconds_write, 3),
        }
    )


@dg.asset(
    key=["core", "qc_climatology"],
    deps=[CORE_READINGS],
    group_name="quality",
    description=(
        "Monthly climatology spans per station and parameter for the QARTOD climatology test, learned from "
        "the history of core.readings (readings that passed gross range; quantiles and margin from "
        "qartod_thresholds.yaml). Every run adds a new version; core.qc_climatology_current is the newest. "
        "Re-score core.readings partitions afterwards to apply new spans."
    ),
)
def qc_climatology(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    config = load_config()
    settings = config.climatology
    version = "clim-" + pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    with warehouse.connect() as conn:
        stats = read_frame(
            conn,
            CLIMATOLOGY_STATS_SQL,
            {
                "q_low": settings.quantiles[0],
                "q_high": settings.quantiles[1],
                "neighbours": settings.neighbour_months,
            },
        )
    spans = climatology_spans(stats, settings, version)
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        written = copy_frame(cur, "core.qc_climatology", spans)
    context.log.info(
        f"climatology {version}: {written} station/parameter/month spans from {len(stats)} groups"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            **table_schema_metadata(warehouse, "core.qc_climatology"),
            "version": version,
            "groups_seen": len(stats),
            "groups_below_min_samples": int(len(stats) - written),
            "stations": int(spans["station_id"].nunique()) if written else 0,
        }
    )


@dg.asset(
    key=["core", "qc_drift_reference"],
    deps=[CORE_READINGS],
    group_name="quality",
    description=(
        "Per-station references of the model-based drift test (quality/drift.py): for each station and "
        "parameter with a drift model (DO: the station's ratio to the oxygen saturation its temperature "
        "allows), the center and robust scale of the day-long residual median over the last "
        "`drift.learning_days` of core.readings (readings not failed), and the threshold max(k·scale, "
        "floor). Every run adds a new version; core.qc_drift_reference_current is the newest. Re-score "
        "core.readings partitions afterwards to apply it."
    ),
)
def qc_drift_reference(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    config = load_config()
    version = "drift-" + pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    references = learn_drift_references(warehouse, config).assign(version=version)
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        written = copy_frame(cur, "core.qc_drift_reference", references) if len(references) else 0
    context.log.info(f"drift reference {version}: {written} station/parameter references")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "version": version,
            "stations": int(references["station_id"].nunique()) if written else 0,
            "median_threshold": json_safe(
                references.groupby("parameter")["threshold"].median().round(3).to_dict() if written else {}
            ),
        }
    )


climatology_monthly = dg.ScheduleDefinition(
    name="qc_climatology_monthly",
    target=[qc_climatology, qc_drift_reference],
    cron_schedule="0 3 1 * *",
    execution_timezone=partitions.TIMEZONE,
    description="Re-learn the QARTOD climatology spans and the drift test's references on the 1st of every "
    "month.",
)
