"""One spec per publisher: what the platform knows about a source, in one place.

From each `Publisher` the sources domain builds the raw asset (`assets.py`), its great-expectations check
(`checks.py`), its pull job and its schedule (`schedules.py`). Adding a publisher is one entry here, plus its
parser module and its `collect_*` function (fetch + parse for one window) in `collect.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from purehealth_pipelines import partitions
from purehealth_pipelines.sources import collect, cpcb_nwmp, mpcb
from purehealth_pipelines.sources.collect import SourceBatch
from purehealth_pipelines.vocabulary import TIMEZONE

INDEX_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class SuiteSpec:
    """The great-expectations suite of a raw table (physical plausibility, not QC)."""

    table: str
    key_columns: list[str]
    parameters: list[str]
    ranges: dict[str, tuple[float, float]]  # parameter -> plausible [min, max]
    text_columns: list[str] = field(default_factory=lambda: ["station_id", "parameter", "unit"])
    min_rows: int = 1


# define_asset_job returns an unresolved job definition (not exported at dagster's top level).
JobDefinitionLike = Any
ScheduleFactory = Callable[[JobDefinitionLike], dg.ScheduleDefinition]


@dataclass(frozen=True)
class Publisher:
    """A source of raw readings and how the platform pulls, checks and schedules it."""

    name: str  # the asset is raw/<name>, written to table raw.<name>; the pull job is <name>_pull
    partitions_def: dg.PartitionsDefinition
    freshness_warn: timedelta
    freshness_fail: timedelta
    description: str
    collect: Callable[[Any, datetime, datetime], SourceBatch]  # (resource, window start, end) -> batch
    resource_key: str  # the Dagster resource `collect` takes: "gov_sources" or "earth_engine"
    suite: SuiteSpec
    check_blocking: bool  # a blocking check keeps a bad partition out of core.readings
    job_description: str
    schedule: ScheduleFactory

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def job_name(self) -> str:
        return f"{self.name}_pull"


def _nwmp_schedule(job: JobDefinitionLike) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="cpcb_nwmp_pull_schedule",
        cron_schedule="0 5 1 * *",
        execution_timezone=TIMEZONE,
        job=job,
        description="NWMP tables come out during the following year: try the previous year on the 1st "
        "of each month "
        "(a re-run replaces the partition, never duplicates it).",
    )
    def nwmp_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        year = str(context.scheduled_execution_time.year - 1)
        return dg.RunRequest(
            run_key=f"nwmp-{year}-{context.scheduled_execution_time:%Y%m}", partition_key=year
        )

    return nwmp_schedule


PUBLISHERS: dict[str, Publisher] = {
    publisher.name: publisher
    for publisher in [
        Publisher(
            name="cpcb_nwmp",
            partitions_def=partitions.yearly,
            freshness_warn=timedelta(days=430),
            freshness_fail=timedelta(days=550),
            description=(
                "CPCB NWMP yearly river tables (annual Min/Max per parameter per station), from the CPCB "
                "yearly CSV or the data.gov.in OGD API; censored values kept ('BDL' -> '<'); malformed "
                "records in ops.dead_letters. Maharashtra stations, station_id 'NWMP-<code>'."
            ),
            collect=collect.collect_cpcb_nwmp,
            resource_key="gov_sources",
            suite=SuiteSpec(
                "raw.cpcb_nwmp",
                ["station_id", "parameter", "statistic", "ts"],
                list(cpcb_nwmp.PARAMETERS),
                {
                    "temp_c": (0, 50),
                    "do_mg_l": (0, 25),
                    "ph": (0, 14),
                    "ec_us_cm": (0, 100_000),
                    "bod_mg_l": (0, 2000),
                },
            ),
            check_blocking=True,
            job_description="CPCB NWMP yearly tables",
            schedule=_nwmp_schedule,
        ),
        Publisher(
            name="mpcb_monthly",
            partitions_def=partitions.monthly,
            freshness_warn=timedelta(days=45),
            freshness_fail=timedelta(days=75),
            description=(
                "MPCB monthly station tables (pH, BOD, DO, total and fecal coliform, COD, nitrate, "
                "conductivity, temperature, … by month, per financial year; units read from the table); "
                "coliform at the MPN table's top (1600/1800) stored censored '>'."
            ),
            collect=collect.collect_mpcb,
            resource_key="gov_sources",
            suite=SuiteSpec(
                "raw.mpcb_monthly",
                ["station_id", "parameter", "ts"],
                sorted({spec[0] for spec in mpcb.PARAMETERS.values()}),
                {"ph": (0, 14), "do_mg_l": (0, 25), "bod_mg_l": (0, 2000), "temp_c": (0, 50)},
            ),
            check_blocking=True,
            job_description="MPCB monthly station tables",
            # MPCB tables for a month are published weeks later: pull the previous month on the 20th.
            schedule=lambda job: dg.build_schedule_from_partitioned_job(
                job, day_of_month=20, hour_of_day=5, minute_of_hour=0
            ),
        ),
        Publisher(
            name="cwc_river_levels",
            partitions_def=partitions.daily,
            freshness_warn=timedelta(hours=30),
            freshness_fail=timedelta(days=2),
            description=(
                "CWC river water level (m) and discharge (m³/s) from the India-WRIS Dataset API, per "
                "district."
            ),
            collect=collect.collect_cwc,
            resource_key="gov_sources",
            suite=SuiteSpec(
                "raw.cwc_river_levels",
                ["station_id", "parameter", "ts"],
                ["water_level_m", "discharge_m3_s"],
                {"water_level_m": (-20, 2000), "discharge_m3_s": (0, 150_000)},
            ),
            check_blocking=True,
            job_description="CWC / India-WRIS levels and discharge",
            # CWC telemetry is near-real-time: pull yesterday's IST day each morning.
            schedule=lambda job: dg.build_schedule_from_partitioned_job(
                job, hour_of_day=6, minute_of_hour=15
            ),
        ),
        Publisher(
            name="imd_rainfall",
            partitions_def=partitions.daily,
            freshness_warn=timedelta(days=2),
            freshness_fail=timedelta(days=3),
            description=(
                "IMD gridded daily rainfall (0.25°) and Tmax/Tmin (1°) .grd files, bilinearly "
                "interpolated to every station with coordinates. Temperature sea cells (99.9) masked; an "
                "archive file must be a whole year."
            ),
            collect=collect.collect_imd,
            resource_key="gov_sources",
            suite=SuiteSpec(
                "raw.imd_rainfall",
                ["station_id", "parameter", "ts"],
                ["rainfall_mm", "tmax_c", "tmin_c"],
                # the Indian 24-hour rainfall record is about 1 m
                {"rainfall_mm": (0, 1000), "tmax_c": (-10, 55), "tmin_c": (-20, 45)},
            ),
            check_blocking=True,
            job_description="IMD gridded rainfall and temperature",
            # IMD's provisional gridded day appears in the morning (the IMD day ends 08:30 IST).
            schedule=lambda job: dg.build_schedule_from_partitioned_job(
                job, hour_of_day=11, minute_of_hour=0
            ),
        ),
        Publisher(
            name="satellite_indices",
            partitions_def=partitions.weekly,
            freshness_warn=timedelta(days=9),
            freshness_fail=timedelta(days=16),
            description=(
                "Earth Engine Sentinel-2 SR harmonized and Landsat 8/9 C2 L2: cloud-masked NDWI, MNDWI, "
                "NDTI, NDCI and chl-a (Mishra & Mishra 2012) over a buffer around each located station, with "
                "clear-water pixel counts."
            ),
            collect=collect.collect_satellite,
            resource_key="earth_engine",
            suite=SuiteSpec(
                "raw.satellite_indices",
                ["station_id", "parameter", "ts", "platform"],
                ["ndwi", "mndwi", "ndti", "ndci", "chl_a_mg_m3"],
                {
                    "ndwi": INDEX_RANGE,
                    "mndwi": INDEX_RANGE,
                    "ndti": INDEX_RANGE,
                    "ndci": INDEX_RANGE,
                    "chl_a_mg_m3": (0, 400),
                },
            ),
            # Satellite indices are advisory (never the only source for a station): warn, do not block.
            check_blocking=False,
            job_description="Earth Engine water indices",
            # Scenes reach Earth Engine within ~2 days: pull the previous week on Wednesday.
            schedule=lambda job: dg.build_schedule_from_partitioned_job(
                job, day_of_week=3, hour_of_day=4, minute_of_hour=0
            ),
        ),
    ]
}
