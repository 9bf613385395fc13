"""Published reports: MPCB's annual "Water Quality Status of Maharashtra" as a Dagster asset and a command.

`year` reads and summarises one financial year from the WQI marts, `geography` places stations on the district
map, `figures` draws with matplotlib, `render` writes the PDF (ReportLab) and the workbook (openpyxl).
"""

import os
from pathlib import Path

from purehealth_pipelines import settings


def reports_dir() -> Path:
    """Where reports are written: `PUREHEALTH_REPORTS_DIR`, else `reports/` in the project root."""
    return Path(os.environ.get("PUREHEALTH_REPORTS_DIR", settings.project_root() / "reports"))
