"""Asset keys that more than one domain refers to: the contracts between domains, named once.

A key spelled out in two modules drifts silently (a typo makes a new, empty asset rather than an error), so
any key used outside the module that defines its asset is imported from here. Keys used only by their own
domain stay there.
"""

import dagster as dg

REF_STATIONS = dg.AssetKey(["ref", "stations"])
RAW_SENSOR_READINGS = dg.AssetKey(["raw", "sensor_readings"])
CORE_READINGS = dg.AssetKey(["core", "readings"])
MART_FORECASTS = dg.AssetKey(["mart", "forecasts"])
