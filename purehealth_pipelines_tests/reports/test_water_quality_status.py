"""The annual report from a small fixture warehouse: the PDF opens with the expected pages, the workbook holds
the numbers of mart.station_wqi_annual, and the CLI writes the same files."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from purehealth_pipelines.cli import main as purehealth
from purehealth_pipelines.marts.wqi_annual import ANNUAL_COLUMNS
from purehealth_pipelines.marts.wqi_assets import (
    sample_wqi_asset,
    station_wqi_annual_asset,
    station_wqi_monthly_asset,
)
from purehealth_pipelines.reports.assets import water_quality_status
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import REGISTRY_COLUMNS
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import copy_frame

FY = 2024  # April 2024 – March 2025; samples from January 2024 give the previous year's last quarter
STATIONS = {  # id: (district, basin, latitude, longitude, pollution 0..1)
    "NWMP-R-CLEAN": ("Kolhapur", "Krishna", 16.70, 74.24, 0.05),
    "NWMP-R-MID": (None, "Godavari", None, None, 0.45),  # district only in the name
    "NWMP-R-BAD": ("Pune", "Krishna", None, None, 0.95),
    "NWMP-R-NOWHERE": (None, None, None, None, 0.3),  # cannot be placed on the map
}
QC_TESTS = (
    "qc_gap",
    "qc_syntax",
    "qc_gross_range",
    "qc_climatology",
    "qc_spike",
    "qc_rate_of_change",
    "qc_flat_line",
)


def _stations() -> pd.DataFrame:
    rows = []
    for station_id, (district, basin, lat, lon, _) in STATIONS.items():
        name = (
            "RIVER GODAVARI AT NANDED, TALUKA- NANDED, DISTRICT- NANDED."
            if station_id == "NWMP-R-MID"
            else station_id
        )
        rows.append(
            dict.fromkeys(REGISTRY_COLUMNS)
            | {
                "station_id": station_id,
                "name": name,
                "network": "NWMP",
                "district": district,
                "basin": basin,
                "latitude": lat,
                "longitude": lon,
                "location_source": "unknown" if lat is None else "agency",
            }
        )
    return pd.DataFrame(rows)


def _readings() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for month in pd.date_range("2024-01-01", "2025-03-01", freq="MS", tz="Asia/Kolkata"):
        for station_id, (*_, badness) in STATIONS.items():
            b = min(1.0, max(0.0, badness + rng.normal(0, 0.05)))
            values = {
                "do_mg_l": 7.5 - 5 * b,
                "bod_mg_l": 1.5 + 20 * b**2,
                "ph": 7.6,
                "fc_mpn_100ml": 10 ** (0.8 + 2.5 * b),
                "tc_mpn_100ml": 10 ** (1.2 + 2.5 * b),
            }
            if station_id == "NWMP-R-MID" and month.month == 7:
                del values["fc_mpn_100ml"]  # a month without fecal coliform: no WQI that month
            for parameter, value in values.items():
                rows.append(
                    {
                        "station_id": station_id,
                        "parameter": parameter,
                        "ts": month.tz_convert("UTC"),
                        "source": "mpcb",
                        "value": round(float(value), 2),
                        "unit": "mg/L",
                        "censored": None,
                        "qc_flag": 1,
                        "approval_status": "provisional",
                        **dict.fromkeys(QC_TESTS, 1),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def wh(module_warehouse_url: str) -> WarehouseResource:
    warehouse = WarehouseResource(url=module_warehouse_url)
    with warehouse.connect() as conn, conn.cursor() as cur:
        copy_frame(cur, "ref.stations", _stations())
        copy_frame(cur, "core.readings", _readings())
    resources = {"warehouse": warehouse}

    def materialize(asset, **kwargs) -> None:
        assert dg.materialize([asset], resources=resources, **kwargs).success

    def span(first: str, last: str) -> dict:
        return {
            "tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        }

    materialize(sample_wqi_asset, **span("2024-01-01", "2025-03-31"))
    materialize(station_wqi_monthly_asset, **span("2024-01-01", "2025-03-01"))
    trend = {"ops": {"mart__station_wqi_annual": {"config": {"min_trend_years": 2}}}}
    for fy in (FY - 1, FY):
        materialize(station_wqi_annual_asset, partition_key=str(fy), run_config=trend)
    return warehouse


@pytest.fixture(scope="module")
def rendered(wh: WarehouseResource, tmp_path_factory: pytest.TempPathFactory) -> dg.ExecuteInProcessResult:
    out = tmp_path_factory.mktemp("reports")
    config = {"ops": {"reports__water_quality_status": {"config": {"output_dir": str(out)}}}}
    result = dg.materialize(
        [water_quality_status], partition_key=str(FY), resources={"warehouse": wh}, run_config=config
    )
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    return result.get_asset_materialization_events()[0].materialization.metadata


def test_pdf_opens_with_the_expected_pages(rendered: dg.ExecuteInProcessResult) -> None:
    metadata = _metadata(rendered)
    pdf = PdfReader(metadata["pdf_path"].value)
    texts = [page.extract_text() for page in pdf.pages]
    assert len(pdf.pages) == metadata["pages"].value
    sections = metadata["sections"].value
    assert list(sections) == ["summary", "map", "basins", "exceedances", "stations", "methods"]
    assert sections["summary"] == 1 and "Water Quality Status of Maharashtra 2024-25" in texts[0]
    assert "Summary" in texts[0] and "Class distribution" in texts[0]
    assert "Map of monitoring stations" in texts[sections["map"] - 1]
    caption = " ".join(texts[sections["map"] - 1].split())
    assert "1 stations at their registry coordinates (0 of them approximate" in caption
    assert "2 drawn inside their district (no coordinates), 1 without coordinates or district" in caption
    assert "Basins" in texts[sections["basins"] - 1] and "Krishna basin" in texts[sections["basins"] - 1]
    assert "Exceedances" in texts[sections["exceedances"] - 1]
    # exactly one page per station, in station order, then the methods page last
    station_pages = texts[sections["stations"] - 1 : sections["methods"] - 1]
    assert len(station_pages) == len(STATIONS)
    for text, station_id in zip(station_pages, sorted(STATIONS), strict=True):
        assert f"Station {station_id}" in text and "Monthly WQI" not in text.replace(
            "Monthly WQI 2024-25", ""
        )
    assert sections["methods"] == len(pdf.pages) and "Methods" in texts[-1] and "Mann-Kendall" in texts[-1]
    assert metadata["preview"].value.startswith("![map of stations by WQI class](data:image/png;base64,")


def test_workbook_holds_the_numbers_of_the_annual_mart(wh: WarehouseResource, rendered) -> None:
    metadata = _metadata(rendered)
    workbook = load_workbook(metadata["workbook_path"].value, read_only=True)
    assert {"Summary", "Stations", "Monthly WQI", "Basins", "Exceedances", "Methods"} <= set(
        workbook.sheetnames
    )
    rows = list(workbook["Stations"].iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    with wh.connect() as conn:
        mart = read_frame(
            conn, "SELECT * FROM mart.station_wqi_annual WHERE financial_year = '2024-25' ORDER BY station_id"
        )
    assert sheet["station_id"].tolist() == mart["station_id"].tolist() == sorted(STATIONS)
    numeric = [c for c in ANNUAL_COLUMNS if pd.api.types.is_numeric_dtype(mart[c])]
    assert {"wqi_mean", "samples", "samples_class_a", "trend_sen_slope", "trend_p_value"} <= set(numeric)
    for column in numeric:  # to the 15 significant digits a spreadsheet cell keeps
        got = pd.to_numeric(sheet[column]).to_numpy(dtype=float)
        np.testing.assert_allclose(
            got, mart[column].to_numpy(dtype=float), rtol=1e-14, atol=0, err_msg=column
        )
    for column in ("wqi_class", "trend", "class_change", "designated_class"):
        assert sheet[column].tolist() == [None if pd.isna(v) else v for v in mart[column]], column
    assert [json.loads(v) for v in sheet["exceedances"]] == [json.loads(v) for v in mart["exceedances"]]
    # the exceedance sheet is the mart's JSON, long
    exceed = list(workbook["Exceedances"].iter_rows(values_only=True))
    bad = {r[2]: (r[3], r[4]) for r in exceed[1:] if r[0] == "NWMP-R-BAD"}
    assert bad == {
        k: (v["exceeded"], v["measured"]) for k, v in json.loads(mart["exceedances"].iloc[0]).items()
    }


def test_mid_station_month_without_fc_has_no_wqi_and_the_rest_do(wh: WarehouseResource) -> None:
    with wh.connect() as conn:
        months = conn.execute(
            "SELECT month, wqi, missing_parameters FROM mart.station_wqi_monthly"
            " WHERE station_id = 'NWMP-R-MID' AND month >= '2024-04-01 00:00+05:30'"
            " AND month < '2025-04-01 00:00+05:30' ORDER BY month"
        ).fetchall()
        annual = conn.execute(
            "SELECT samples, samples_with_wqi FROM mart.station_wqi_annual"
            " WHERE station_id = 'NWMP-R-MID' AND financial_year = '2024-25'"
        ).fetchone()
    assert len(months) == 12 and annual == (12, 11)
    july = [m for m in months if m[1] is None]
    assert len(july) == 1 and july[0][2] == "fc_mpn_100ml"


def test_cli_writes_the_same_report(wh: WarehouseResource, rendered, tmp_path: Path, capsys) -> None:
    code = purehealth(
        [
            "report",
            "water-quality-status",
            "--year",
            str(FY),
            "--url",
            wh.url,
            "--output-dir",
            str(tmp_path),
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    pdf_line = next(line for line in printed.splitlines() if line.startswith("PDF:"))
    workbook_line = next(line for line in printed.splitlines() if line.startswith("Workbook:"))
    pdf_path = Path(pdf_line.split()[1])
    assert pdf_path.is_file() and pdf_path.is_relative_to(tmp_path)
    assert Path(workbook_line.split()[1]).is_file()
    assert len(PdfReader(pdf_path).pages) == _metadata(rendered)["pages"].value
