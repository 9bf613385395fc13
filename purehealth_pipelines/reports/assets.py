"""The annual report as a Dagster asset: `reports/water_quality_status`, one partition per financial year.

Thin: the year is read by reports.year, rendered by reports.render; the asset records where the files are,
how many pages the PDF has, and a preview of its map.
"""

import base64
import io
from pathlib import Path

import dagster as dg
import pandas as pd
from PIL import Image as PILImage
from pydantic import Field

from purehealth_pipelines import partitions
from purehealth_pipelines.marts.wqi_assets import SAMPLE_WQI, STATION_WQI_ANNUAL, STATION_WQI_MONTHLY
from purehealth_pipelines.reports import reports_dir
from purehealth_pipelines.reports.render import RenderedReport, render_report
from purehealth_pipelines.reports.year import load_year
from purehealth_pipelines.resources import WarehouseResource

REPORT = dg.AssetKey(["reports", "water_quality_status"])


class WaterQualityStatusConfig(dg.Config):
    """Where the report files go."""

    output_dir: str = Field(
        default="", description="folder for the PDF and workbook; empty = PUREHEALTH_REPORTS_DIR or ./reports"
    )


def year_folder(base: Path, fy_start_year: int) -> Path:
    return base / "water_quality_status" / f"FY{fy_start_year}-{(fy_start_year + 1) % 100:02d}"


def preview_markdown(png_path: Path, width: int = 420) -> str:
    """A small inline PNG of the report's map for the asset's metadata (the UI renders markdown images)."""
    with PILImage.open(png_path) as image:
        image.thumbnail((width, width))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![map of stations by WQI class](data:image/png;base64,{encoded})"


def build_year_report(
    warehouse: WarehouseResource, fy_start_year: int, base: Path, progress=None
) -> RenderedReport:
    """Read the year from the marts and render it (used by the asset, the CLI and the bench)."""
    with warehouse.connect() as conn:
        data = load_year(conn, fy_start_year)
    return render_report(data, year_folder(base, fy_start_year), progress)


@dg.asset(
    key=REPORT,
    deps=[STATION_WQI_ANNUAL, STATION_WQI_MONTHLY, SAMPLE_WQI],
    partitions_def=partitions.financial_yearly,
    backfill_policy=partitions.single_run,
    automation_condition=dg.AutomationCondition.eager(),
    group_name="reports",
    kinds={"python", "pdf", "excel"},
    description=(
        "MPCB's annual 'Water Quality Status of Maharashtra' for one financial year (April–March), as a PDF "
        "and an Excel workbook: summary (stations monitored, class distribution, stations that got better or "
        "worse), a district map of Maharashtra with stations coloured by WQI class, per-basin tables, the "
        "exceedance table, one page per station (monthly WQI and the parameters against their criteria) and "
        "a methods page. Numbers from mart.station_wqi_annual / mart.station_wqi_monthly; files under "
        "PUREHEALTH_REPORTS_DIR (default ./reports)."
    ),
)
def water_quality_status(
    context: dg.AssetExecutionContext, config: WaterQualityStatusConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    base = Path(config.output_dir) if config.output_dir else reports_dir()
    window = context.partition_time_window
    reports = []
    for year in range(pd.Timestamp(window.start).year, pd.Timestamp(window.end).year):
        report = build_year_report(warehouse, year, base)
        context.log.info(
            f"FY {year}: {report.pages} pages, {report.stations} stations in {report.seconds:.1f}s"
        )
        reports.append(report)
    last = reports[-1]
    return dg.MaterializeResult(
        metadata={
            "pdf_path": dg.MetadataValue.path(str(last.pdf_path)),
            "workbook_path": dg.MetadataValue.path(str(last.workbook_path)),
            "pages": last.pages,
            "stations": last.stations,
            "sections": dg.MetadataValue.json(last.page_index),
            "render_seconds": round(sum(r.seconds for r in reports), 2),
            "preview": dg.MetadataValue.md(preview_markdown(last.preview_path)),
        }
    )


defs = dg.Definitions(assets=[water_quality_status])
