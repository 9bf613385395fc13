"""Definitions of the live domain (assembled by purehealth_pipelines.definitions).

The sensor targets core.readings, owned by the quality domain. A job selecting an asset that is not in
the code location fails the whole location at load time, so the job and sensor are only registered when
the quality domain defines ["core", "readings"]; otherwise the live domain contributes nothing (and says
so in the log) rather than breaking `dagster dev`.
"""

import logging

import dagster as dg

from purehealth_pipelines.live.sensor import (
    CORE_READINGS,
    live_readings_quality_job,
    raw_sensor_readings_sensor,
    raw_sensor_readings_spec,
)


def _quality_defines_core_readings() -> bool:
    try:
        from purehealth_pipelines.quality import definitions as quality
    except Exception:  # the quality domain is being built by someone else: never break this location
        logging.getLogger(__name__).warning("quality domain not importable; live sensor not registered")
        return False
    keys = set()
    for asset in quality.defs.assets or []:
        keys.update(getattr(asset, "keys", None) or {getattr(asset, "key", None)})
    return CORE_READINGS in keys


if _quality_defines_core_readings():
    defs = dg.Definitions(
        assets=[raw_sensor_readings_spec],
        jobs=[live_readings_quality_job],
        sensors=[raw_sensor_readings_sensor],
    )
else:
    logging.getLogger(__name__).warning("core.readings is not defined: the raw.sensor_readings sensor is off")
    defs = dg.Definitions(assets=[raw_sensor_readings_spec])
