"""Bench: the WQI marts and the annual report for 300 stations × 12 monthly samples.

Monthly lab samples from January 2024 (where the platform's daily partitions begin) to March 2026 — the last
3 months of FY 2023-24 and the full FYs 2024-25 and 2025-26, so the last year has a 3-year trend — for 300
synthetic stations spread over Maharashtra's districts are written straight into core.readings as good lab
readings (QC is benched in bench_quality.py), then each asset runs through Dagster as in production and is
timed:
mart/sample_wqi (27 months of daily partitions, one run), mart/station_wqi_monthly (27 months, one run),
mart/station_wqi_annual (the last year), reports/water_quality_status (the last year: PDF + workbook).

Creates and drops its own database purehealth_bench_<random>; the report goes to a temporary folder (pass
--keep DIR to keep it). Run: PYTHONPATH=. .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from _support import bench_database, report

from purehealth_pipelines.marts.wqi_assets import (
    sample_wqi_asset,
    station_wqi_annual_asset,
    station_wqi_monthly_asset,
)
from purehealth_pipelines.reports.assets import water_quality_status
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import REGISTRY_COLUMNS
from purehealth_pipelines.warehouse.writer import copy_frame

STATIONS, LAST_FY, FIRST_MONTH, MONTHS = 300, 2025, "2024-01-01", 27
DISTRICTS = [
    ("Pune", "Krishna"),
    ("Satara", "Krishna"),
    ("Kolhapur", "Krishna"),
    ("Sangli", "Krishna"),
    ("Solapur", "Krishna"),
    ("Nashik", "Godavari"),
    ("Aurangabad", "Godavari"),
    ("Nanded", "Godavari"),
    ("Nagpur", "Godavari"),
    ("Chandrapur", "Godavari"),
    ("Jalgaon", "Tapi"),
    ("Dhule", "Tapi"),
    ("Thane", "West flowing"),
    ("Raigad", "West flowing"),
    ("Ratnagiri", "West flowing"),
]
QC_TESTS = (
    "qc_gap",
    "qc_syntax",
    "qc_gross_range",
    "qc_climatology",
    "qc_spike",
    "qc_rate_of_change",
    "qc_flat_line",
)


def stations() -> pd.DataFrame:
    rows = []
    for i in range(STATIONS):
        district, basin = DISTRICTS[i % len(DISTRICTS)]
        row = dict.fromkeys(REGISTRY_COLUMNS)
        rows.append(
            row
            | {
                "station_id": f"NWMP-B{i:03d}",
                "name": f"RIVER BENCH {i} AT SITE, DISTRICT- {district.upper()}.",
                "network": "NWMP",
                "river": f"River {i % 40}",
                "district": district,
                "basin": basin,
                "location_source": "unknown",  # placed inside its district by the report
            }
        )
    return pd.DataFrame(rows)


def lab_readings(rng: np.random.Generator) -> pd.DataFrame:
    """Monthly grab samples: a per-station pollution level, the monsoon cycle, a drift at a third of them."""
    level = rng.uniform(0, 1, STATIONS)
    drift = np.where(rng.random(STATIONS) < 0.33, rng.choice([-0.08, 0.08], STATIONS), 0.0)
    months = pd.date_range(FIRST_MONTH, periods=MONTHS, freq="MS", tz="Asia/Kolkata")
    frames = []
    for k, month in enumerate(months):
        monsoon = 1.0 if month.month in (7, 8) else 0.6 if month.month in (6, 9) else 0.0
        badness = np.clip(level + drift * k / 12 + rng.normal(0, 0.08, STATIONS) - 0.25 * monsoon, 0, 1)
        values = {
            "do_mg_l": 7.5 - 5.5 * badness,
            "bod_mg_l": 1.2 + 20 * badness**2,
            "ph": rng.normal(7.6, 0.25, STATIONS),
            "fc_mpn_100ml": np.minimum(1600, 10 ** (0.8 + 2.6 * badness + 0.8 * monsoon)),
            "tc_mpn_100ml": np.minimum(1600, 10 ** (1.2 + 2.6 * badness + 0.8 * monsoon)),
            "temp_c": rng.normal(26, 3, STATIONS),
        }
        for parameter, v in values.items():
            frame = pd.DataFrame(
                {
                    "station_id": [f"NWMP-B{i:03d}" for i in range(STATIONS)],
                    "parameter": parameter,
                    "ts": month.tz_convert("UTC"),
                    "source": "mpcb",
                    "value": np.round(v, 2),
                    "unit": "mg/L",
                }
            )
            frame["censored"] = np.where(
                parameter.endswith("mpn_100ml") & (frame["value"] >= 1600), ">", None
            )
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["qc_flag"] = 1
    for test in QC_TESTS:
        out[test] = 1
    out["approval_status"] = "provisional"
    return out


def timed(label: str, timings: list[tuple[str, str]], fn) -> dg.ExecuteInProcessResult:
    began = time.perf_counter()
    result = fn()
    assert result.success, label
    timings.append((label, f"{time.perf_counter() - began:6.2f} s"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the report here and keep it")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=r".*is currently in beta")
    rng = np.random.default_rng(13)
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="purehealth_report_bench_"))
    with bench_database() as url:
        warehouse = WarehouseResource(url=url)
        readings = lab_readings(rng)
        with warehouse.connect() as conn, conn.cursor() as cur:
            copy_frame(cur, "ref.stations", stations())
            copy_frame(cur, "core.readings", readings)
        resources = {"warehouse": warehouse}
        first_day, last_day = FIRST_MONTH, f"{LAST_FY + 1}-03-31"

        def run(
            asset,
            *,
            partition: str | None = None,
            first: str | None = None,
            last: str | None = None,
            config=None,
        ):
            tags = (
                {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
                if first
                else None
            )
            return dg.materialize(
                [asset], partition_key=partition, tags=tags, resources=resources, run_config=config or {}
            )

        timings: list[tuple[str, str]] = []
        timed(
            f"mart/sample_wqi, {MONTHS} months of daily partitions (one run)",
            timings,
            lambda: run(sample_wqi_asset, first=first_day, last=last_day),
        )
        timed(
            f"mart/station_wqi_monthly, {MONTHS} months (one run)",
            timings,
            lambda: run(station_wqi_monthly_asset, first=first_day, last=f"{LAST_FY + 1}-03-01"),
        )
        for fy in range(pd.Timestamp(FIRST_MONTH).year - 1, LAST_FY):
            run(station_wqi_annual_asset, partition=str(fy))
        timed(
            f"mart/station_wqi_annual, FY {LAST_FY} ({STATIONS} stations, trend over 3 financial years)",
            timings,
            lambda: run(station_wqi_annual_asset, partition=str(LAST_FY)),
        )
        result = timed(
            f"reports/water_quality_status, FY {LAST_FY} (PDF + workbook)",
            timings,
            lambda: run(
                water_quality_status,
                partition=str(LAST_FY),
                config={"ops": {"reports__water_quality_status": {"config": {"output_dir": str(out_dir)}}}},
            ),
        )
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        with warehouse.connect() as conn:
            annual = conn.execute(
                "SELECT count(*), count(trend), count(*) FILTER (WHERE trend <> 'no trend')"
                " FROM mart.station_wqi_annual WHERE financial_year = %s",
                (f"{LAST_FY}-{(LAST_FY + 1) % 100:02d}",),
            ).fetchone()
    timings += [
        ("lab readings written", f"{len(readings):,}"),
        ("annual rows / with a trend verdict / significant", f"{annual[0]} / {annual[1]} / {annual[2]}"),
        ("PDF pages", str(metadata["pages"].value)),
        ("PDF", str(metadata["pdf_path"].value)),
        ("workbook", str(metadata["workbook_path"].value)),
    ]
    report(
        f"WQI marts and annual report, {STATIONS} stations × 12 months (history from {FIRST_MONTH})", timings
    )


if __name__ == "__main__":
    main()
