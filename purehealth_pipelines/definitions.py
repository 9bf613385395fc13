"""The code location: assembles each domain's Definitions and binds the shared resources. Nothing else."""

from __future__ import annotations

import dagster as dg

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations import assets as stations
from purehealth_pipelines.warehouse import jobs as warehouse_jobs

DOMAINS = [stations.defs, warehouse_jobs.defs]

defs = dg.Definitions.merge(
    *DOMAINS,
    dg.Definitions(resources={"warehouse": WarehouseResource()}),
)
