"""Definitions of the live domain (assembled by purehealth_pipelines.definitions).

The sensor's job selects core.readings, which the quality domain owns. If that asset were missing the code
location fails to load, loudly, which is what a missing contract between domains should do.
"""

import dagster as dg

from purehealth_pipelines.live.sensor import (
    live_readings_quality_job,
    raw_sensor_readings_sensor,
    raw_sensor_readings_spec,
)

defs = dg.Definitions(
    assets=[raw_sensor_readings_spec],
    jobs=[live_readings_quality_job],
    sensors=[raw_sensor_readings_sensor],
)
