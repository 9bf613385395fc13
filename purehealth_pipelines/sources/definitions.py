"""Definitions of the sources domain (assembled by purehealth_pipelines.definitions).

Mode comes from PUREHEALTH_SOURCES_MODE ('demo' by default: offline publishers). In 'live' mode the
credentials are read through dg.EnvVar: PUREHEALTH_DATAGOV_API_KEY (data.gov.in), PUREHEALTH_EE_PROJECT and
PUREHEALTH_EE_SERVICE_ACCOUNT_KEY (Earth Engine service-account key JSON; unset -> application default creds).
"""

import os

import dagster as dg

from purehealth_pipelines.sources.assets import SOURCE_ASSETS
from purehealth_pipelines.sources.checks import SOURCE_CHECKS
from purehealth_pipelines.sources.resources import EarthEngineResource, GovSourcesResource, env_mode
from purehealth_pipelines.sources.schedules import SOURCE_JOBS, SOURCE_SCHEDULES


def _env(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


def _resources() -> dict:
    mode = env_mode()
    if mode == "live":
        gov = GovSourcesResource(mode="live", datagov_api_key=_env("PUREHEALTH_DATAGOV_API_KEY"))
        earth = EarthEngineResource(
            mode="live",
            project=dg.EnvVar("PUREHEALTH_EE_PROJECT"),
            service_account_key_json=_env("PUREHEALTH_EE_SERVICE_ACCOUNT_KEY"),
        )
    else:
        gov, earth = GovSourcesResource(mode="demo"), EarthEngineResource(mode="demo")
    return {"gov_sources": gov, "earth_engine": earth}


defs = dg.Definitions(
    assets=SOURCE_ASSETS,
    asset_checks=SOURCE_CHECKS,
    jobs=SOURCE_JOBS,
    schedules=SOURCE_SCHEDULES,
    resources=_resources(),
)
