"""`purehealth report water-quality-status --year YYYY`: render one financial year's report from the marts.

The same code as the Dagster asset `reports/water_quality_status` (reports.assets.build_year_report), run
directly against the warehouse with a progress bar; it reads the marts as they are (materialise
mart/station_wqi_annual for the year first) and records no Dagster materialisation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from purehealth_pipelines.marts.wqi_annual import financial_year_label


def _water_quality_status(args: argparse.Namespace) -> int:
    from purehealth_pipelines.reports import reports_dir
    from purehealth_pipelines.reports.assets import build_year_report
    from purehealth_pipelines.resources import WarehouseResource

    warehouse = WarehouseResource(url=args.url) if args.url else WarehouseResource()
    base = Path(args.output_dir) if args.output_dir else reports_dir()
    bar = tqdm(total=None, desc=f"FY {financial_year_label(args.year)}", unit="station", disable=args.quiet)

    def progress(step: str, done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.set_postfix_str(step)
        bar.n = done
        bar.refresh()

    report = build_year_report(warehouse, args.year, base, progress)
    bar.close()
    if report.stations == 0:
        print(
            f"warning: no station has an annual WQI for {financial_year_label(args.year)}; materialise "
            "mart/station_wqi_annual for that year first"
        )
    print(f"PDF:      {report.pdf_path} ({report.pages} pages, {report.stations} stations)")
    print(f"Workbook: {report.workbook_path}")
    return 0 if report.stations else 1


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="render published reports from the warehouse marts")
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    status = kinds.add_parser(
        "water-quality-status",
        help="MPCB's annual 'Water Quality Status of Maharashtra' for one financial year: PDF and workbook",
    )
    status.add_argument(
        "--year",
        type=int,
        required=True,
        help="first calendar year of the financial year: 2025 = April 2025 – March 2026 ('2025-26')",
    )
    status.add_argument("--output-dir", help="folder (default: PUREHEALTH_REPORTS_DIR or ./reports)")
    status.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    status.add_argument("--quiet", action="store_true", help="no progress bar")
    status.set_defaults(handler=_water_quality_status)
