"""The code location: assembles each domain's Definitions and binds the shared resources. Nothing else.

Domain modules are imported as modules (not their `defs` objects): Dagster allows one Definitions object at
module scope of the code location.
"""

import dagster as dg

import purehealth_pipelines.forecasting.definitions as forecasting
import purehealth_pipelines.live.definitions as live
import purehealth_pipelines.marts.definitions as marts
import purehealth_pipelines.quality.definitions as quality
import purehealth_pipelines.reports.assets as reports
import purehealth_pipelines.sources.definitions as sources
import purehealth_pipelines.stations.assets as stations
import purehealth_pipelines.warehouse.jobs as warehouse_jobs
from purehealth_pipelines.resources import WarehouseResource

defs = dg.Definitions.merge(
    stations.defs,
    warehouse_jobs.defs,
    sources.defs,
    live.defs,
    quality.defs,
    marts.defs,
    forecasting.defs,
    reports.defs,
    dg.Definitions(resources={"warehouse": WarehouseResource()}),
)
