"""Load and validate the committed station registry (built by scripts/build_station_registry.py)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

REGISTRY_COLUMNS = [
    "station_id",
    "name",
    "network",
    "source_code",
    "river",
    "district",
    "basin",
    "water_body_type",
    "latitude",
    "longitude",
]


def load_registry() -> pd.DataFrame:
    """The station registry as a DataFrame; raises if ids are not unique or coordinates are out of range."""
    with (resources.files("purehealth_pipelines.stations") / "stations.csv").open() as handle:
        frame = pd.read_csv(handle, dtype={"source_code": "str"})
    frame = frame[REGISTRY_COLUMNS]
    duplicated = frame["station_id"][frame["station_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"duplicate station ids in the registry: {sorted(duplicated)}")
    bad = frame[(frame["latitude"].abs() > 90) | (frame["longitude"].abs() > 180)]
    if not bad.empty:
        raise ValueError(f"coordinates out of range for {bad['station_id'].tolist()}")
    return frame
