"""The pull job and schedule of each publisher (sources/publishers.py): government daily, satellite weekly,
NWMP and MPCB on their publication cadence. Each schedule requests the latest complete partition."""

import dagster as dg

from purehealth_pipelines.sources.assets import ASSETS
from purehealth_pipelines.sources.publishers import PUBLISHERS

JOBS = {
    name: dg.define_asset_job(
        spec.job_name, selection=[ASSETS[name]], description=spec.job_description, tags={"domain": "sources"}
    )
    for name, spec in PUBLISHERS.items()
}
SOURCE_JOBS = list(JOBS.values())
SOURCE_SCHEDULES = [spec.schedule(JOBS[name]) for name, spec in PUBLISHERS.items()]
