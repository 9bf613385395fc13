"""Jobs and schedules of the source pulls (ARCHITECTURE §6): government daily, satellite weekly, NWMP and MPCB
on their publication cadence. Each schedule requests the latest complete partition."""

import dagster as dg

from purehealth_pipelines.partitions import TIMEZONE
from purehealth_pipelines.sources import assets


def _job(name: str, asset: dg.AssetsDefinition, description: str):
    return dg.define_asset_job(name, selection=[asset], description=description, tags={"domain": "sources"})


cpcb_nwmp_job = _job("cpcb_nwmp_pull", assets.cpcb_nwmp, "CPCB NWMP yearly tables")
mpcb_monthly_job = _job("mpcb_monthly_pull", assets.mpcb_monthly, "MPCB monthly station tables")
cwc_job = _job("cwc_river_levels_pull", assets.cwc_river_levels, "CWC / India-WRIS levels and discharge")
imd_job = _job("imd_rainfall_pull", assets.imd_rainfall, "IMD gridded rainfall and temperature")
satellite_job = _job("satellite_indices_pull", assets.satellite_indices, "Earth Engine water indices")

SOURCE_JOBS = [cpcb_nwmp_job, mpcb_monthly_job, cwc_job, imd_job, satellite_job]


@dg.schedule(
    name="cpcb_nwmp_pull_schedule",
    cron_schedule="0 5 1 * *",
    execution_timezone=TIMEZONE,
    job=cpcb_nwmp_job,
    description="NWMP tables come out during the following year: try the previous year on the 1st "
    "of each month "
    "(a re-run replaces the partition, never duplicates it).",
)
def nwmp_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    year = str(context.scheduled_execution_time.year - 1)
    return dg.RunRequest(run_key=f"nwmp-{year}-{context.scheduled_execution_time:%Y%m}", partition_key=year)


SOURCE_SCHEDULES = [
    # CWC telemetry is near-real-time: pull yesterday's IST day each morning.
    dg.build_schedule_from_partitioned_job(cwc_job, hour_of_day=6, minute_of_hour=15),
    # IMD's provisional gridded day appears in the morning (the IMD day ends 08:30 IST).
    dg.build_schedule_from_partitioned_job(imd_job, hour_of_day=11, minute_of_hour=0),
    # Sentinel-2/Landsat scenes reach Earth Engine within ~2 days: pull the previous week on Wednesday.
    dg.build_schedule_from_partitioned_job(satellite_job, day_of_week=3, hour_of_day=4, minute_of_hour=0),
    # MPCB tables for a month are published weeks later: pull the previous month on the 20th.
    dg.build_schedule_from_partitioned_job(
        mpcb_monthly_job, day_of_month=20, hour_of_day=5, minute_of_hour=0
    ),
    nwmp_schedule,
]
