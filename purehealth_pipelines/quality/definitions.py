"""Definitions of the quality domain (assembled by purehealth_pipelines.definitions)."""

import dagster as dg

from purehealth_pipelines.quality.assets import (
    climatology_monthly,
    core_readings,
    qc_climatology,
    qc_drift_reference,
)
from purehealth_pipelines.quality.checks import core_readings_expectations

defs = dg.Definitions(
    assets=[core_readings, qc_climatology, qc_drift_reference],
    asset_checks=[core_readings_expectations],
    schedules=[climatology_monthly],
)
