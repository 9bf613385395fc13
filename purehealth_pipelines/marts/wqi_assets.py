"""Dagster assets of the WQI at the grain the data allow: per lab sample, per month, per financial year.

Thin: the science is in purehealth_pipelines.indices, the shaping in marts.wqi_samples and marts.wqi_annual;
each asset reads its window with the typed warehouse reader and replaces its partition in one transaction.
"""

import dagster as dg
import pandas as pd

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS, REF_STATIONS
from purehealth_pipelines.marts.wqi_annual import (
    DEFAULT_DESIGNATED_CLASS,
    financial_year_bounds,
    station_wqi_annual,
)
from purehealth_pipelines.marts.wqi_samples import (
    LAB_READINGS_SQL,
    LAB_SOURCES,
    SAMPLE_PARAMETERS,
    lab_samples,
    sample_wqi,
    station_wqi_monthly,
)
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.table_metadata import table_schema_metadata
from purehealth_pipelines.warehouse.reader import read_frame

SAMPLE_WQI = dg.AssetKey(["mart", "sample_wqi"])
STATION_WQI_MONTHLY = dg.AssetKey(["mart", "station_wqi_monthly"])
STATION_WQI_ANNUAL = dg.AssetKey(["mart", "station_wqi_annual"])
WQI_DO_SATURATION = "fixed"  # reproduces MPCB's published worked example (indices.wqi)
COMMON = {
    "group_name": "marts",
    "automation_condition": dg.AutomationCondition.eager(),
    "backfill_policy": partitions.single_run,
}


@dg.asset(
    key=SAMPLE_WQI,
    deps=[CORE_READINGS],
    partitions_def=partitions.daily,
    description=(
        "The WQI per lab sampling event (station, sample time, source), MPCB's grain: the four inputs (DO, "
        "BOD, fecal coliform, pH) from the sample's good or censored readings in core.readings, sub-indices, "
        "WQI, label and band, CPCB best-use class, the censored inputs and the core.readings rows used. "
        "Samples missing an input are kept with missing_parameters naming it. Formulas: "
        "purehealth_pipelines.indices."
    ),
    **COMMON,
)
def sample_wqi_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    window = context.partition_time_window
    with warehouse.connect() as conn:
        long = read_frame(
            conn,
            LAB_READINGS_SQL,
            {
                "start": window.start,
                "end": window.end,
                "sources": list(LAB_SOURCES),
                "parameters": list(SAMPLE_PARAMETERS),
            },
        )
    frame = sample_wqi(lab_samples(long), do_saturation=WQI_DO_SATURATION)
    write = warehouse.write_partition(
        "mart.sample_wqi", frame, window.start, window.end, time_column="sample_ts"
    )
    with_wqi = int(frame["wqi"].notna().sum()) if len(frame) else 0
    missing = (
        frame["missing_parameters"].dropna().str.split(",").explode().value_counts().to_dict()
        if len(frame)
        else {}
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": write.rows_written,
            **table_schema_metadata(warehouse, "mart.sample_wqi"),
            "samples_with_wqi": with_wqi,
            "samples_without_wqi": len(frame) - with_wqi,
            "missing_inputs": dg.MetadataValue.json({str(k): int(v) for k, v in missing.items()}),
            "write_seconds": round(write.seconds, 3),
        }
    )


SAMPLES_SQL = """
SELECT * FROM mart.sample_wqi WHERE sample_ts >= %(start)s AND sample_ts < %(end)s
"""


@dg.asset(
    key=STATION_WQI_MONTHLY,
    deps=[SAMPLE_WQI],
    partitions_def=partitions.monthly,
    description=(
        "MPCB's cadence: per station and IST month, the WQI of the month's lab sample(s) (their mean), its "
        "band, the worst best-use class among them, the mean inputs, sample counts and, where no sample had "
        "a WQI, which inputs were missing. From mart.sample_wqi."
    ),
    **COMMON,
)
def station_wqi_monthly_asset(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    with warehouse.connect() as conn:
        samples = read_frame(conn, SAMPLES_SQL, {"start": window.start, "end": window.end})
    frame = station_wqi_monthly(samples)
    write = warehouse.write_partition(
        "mart.station_wqi_monthly", frame, window.start, window.end, time_column="month"
    )
    with_wqi = frame[frame["wqi"].notna()] if len(frame) else frame
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": write.rows_written,
            **table_schema_metadata(warehouse, "mart.station_wqi_monthly"),
            "station_months_with_wqi": len(with_wqi),
            "mean_wqi": float(with_wqi["wqi"].mean()) if len(with_wqi) else None,
            "wqi_classes": dg.MetadataValue.json(
                {str(k): int(v) for k, v in with_wqi["wqi_class"].value_counts().items()}
                if len(with_wqi)
                else {}
            ),
        }
    )


MONTHLY_HISTORY_SQL = """
SELECT station_id, month, wqi FROM mart.station_wqi_monthly WHERE month < %(end)s AND wqi IS NOT NULL
"""
DESIGNATIONS_SQL = """
SELECT station_id, designated_best_use FROM ref.stations WHERE designated_best_use IS NOT NULL
"""


class StationWqiAnnualConfig(dg.Config):
    """The class a stretch is held to when ref.stations designates none, and the trend's minimum length."""

    default_designated_class: str = DEFAULT_DESIGNATED_CLASS
    min_trend_years: int = 3


def build_annual(conn, fy_start_year: int, config: StationWqiAnnualConfig | None = None) -> pd.DataFrame:
    """Read what one financial year's annual rows need and compute them (the asset, the CLI and the bench)."""
    config = config or StationWqiAnnualConfig()
    _, end = financial_year_bounds(fy_start_year)
    previous_start, _ = financial_year_bounds(fy_start_year - 1)
    samples = read_frame(conn, SAMPLES_SQL, {"start": previous_start, "end": end})
    monthly = read_frame(conn, MONTHLY_HISTORY_SQL, {"end": end})
    designations = read_frame(conn, DESIGNATIONS_SQL)
    return station_wqi_annual(
        samples,
        monthly,
        fy_start_year,
        designations=dict(zip(designations["station_id"], designations["designated_best_use"], strict=True)),
        default_class=config.default_designated_class,
        min_trend_years=config.min_trend_years,
    )


@dg.asset(
    key=STATION_WQI_ANNUAL,
    deps=[SAMPLE_WQI, STATION_WQI_MONTHLY, REF_STATIONS],
    partitions_def=partitions.financial_yearly,
    description=(
        "Per station and financial year (April–March, as MPCB's Water Quality Status of Maharashtra): "
        "mean/min/max WQI, samples per WQI class, exceedances of each criterion of the station's designated "
        "best-use class (ref.stations, default C), the previous year's class (better / worse), and the "
        "long-term trend over all years available: seasonal Mann-Kendall with Sen's slope (pymannkendall)."
    ),
    **COMMON,
)
def station_wqi_annual_asset(
    context: dg.AssetExecutionContext, config: StationWqiAnnualConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    frames = []
    window = context.partition_time_window
    first, last = pd.Timestamp(window.start).year, pd.Timestamp(window.end).year - 1
    with warehouse.connect() as conn:
        for year in range(first, last + 1):  # a single-run backfill covers several years
            frames.append(build_annual(conn, year, config))
    filled = [f for f in frames if len(f)]
    frame = pd.concat(filled, ignore_index=True) if filled else frames[0]
    write = warehouse.write_partition(
        "mart.station_wqi_annual", frame, window.start, window.end, time_column="fy_start"
    )
    trends = frame["trend"].value_counts(dropna=False).to_dict() if len(frame) else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": write.rows_written,
            **table_schema_metadata(warehouse, "mart.station_wqi_annual"),
            "stations": int(frame["station_id"].nunique()) if len(frame) else 0,
            "wqi_classes": dg.MetadataValue.json(
                {str(k): int(v) for k, v in frame["wqi_class"].value_counts(dropna=False).items()}
                if len(frame)
                else {}
            ),
            "trends": dg.MetadataValue.json({str(k): int(v) for k, v in trends.items()}),
        }
    )


WQI_ASSETS = [sample_wqi_asset, station_wqi_monthly_asset, station_wqi_annual_asset]
