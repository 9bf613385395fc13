"""A fake `ee.data.computeFeatures` for demo mode: returns the table the real graph would return.

The real graph is still built and serialised (so a broken graph fails in demo mode too); only the compute
call is replaced. Scenes follow the real revisit (Sentinel-2 every 5 days, Landsat 8/9 every 16 days, 8
days apart); monsoon scenes are mostly cloudy (pixel count 0 -> dropped); index values sit in realistic
ranges for inland Maharashtra water (turbid in the monsoon, greener where sewage-fed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from purehealth_pipelines.demo.profiles import profile_for, stable_rng
from purehealth_pipelines.vocabulary import TIMEZONE

REVISIT = {"sentinel2": (5, 10, 110), "landsat8": (16, 30, 12), "landsat9": (16, 30, 12)}  # days, m, max px
EPOCH = pd.Timestamp("2024-01-03T05:30:00Z")  # a reference overpass (≈11:00 IST)


def demo_compute_features(stations: pd.DataFrame, start: str, end: str, seed: int) -> Callable[[dict], Any]:
    def compute(params: dict[str, Any]) -> pd.DataFrame:
        rows = []
        lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
        for platform, (every, _scale, max_px) in REVISIT.items():
            offset = {"sentinel2": 0, "landsat8": 0, "landsat9": 8}[platform]
            first = EPOCH + pd.Timedelta(days=offset)
            n0 = int(np.floor((lo - first) / pd.Timedelta(days=every)))
            for n in range(n0, n0 + 400):
                when = first + pd.Timedelta(days=n * every)
                if when >= hi:
                    break
                if when < lo:
                    continue
                month = when.tz_convert(TIMEZONE).month
                cloud_chance = 0.8 if month in (6, 7, 8, 9) else 0.15
                scene = f"{when:%Y%m%dT%H%M%S}_{platform.upper()}_T43Q"
                for station in stations.itertuples():
                    rng = stable_rng(seed, "ee", platform, station.station_id, when.isoformat())
                    clear_fraction = 0.0 if rng.random() < cloud_chance else rng.uniform(0.4, 1.0)
                    pixels = round(max_px * clear_fraction * rng.uniform(0.3, 1.0))
                    record: dict[str, Any] = {
                        "station_id": station.station_id,
                        "scene_id": scene,
                        "platform": platform,
                        "time_start": int(when.value // 1_000_000),
                        "ndwi_count": pixels,
                    }
                    if pixels:
                        kind = profile_for(station.station_id, station.name).kind
                        monsoon = month in (6, 7, 8, 9, 10)
                        record["ndwi_mean"] = round(rng.uniform(0.05, 0.45), 4)
                        record["mndwi_mean"] = round(rng.uniform(0.15, 0.6), 4)
                        record["ndti_mean"] = round(
                            rng.uniform(0.0, 0.25) if monsoon else rng.uniform(-0.2, 0.05), 4
                        )
                        if platform == "sentinel2":
                            green = 0.08 if kind in ("urban_polluted", "tidal_creek") else 0.0
                            record["ndci_mean"] = round(rng.uniform(-0.12, 0.12) + green, 4)
                    rows.append(record)
        return pd.DataFrame(rows)

    return compute
