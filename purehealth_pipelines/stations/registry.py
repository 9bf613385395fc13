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
    "location_source",
    "location_detail",
    "location_uncertainty_km",
    "colocated_lab_station_id",
    "designated_best_use",
]
# Where coordinates come from (migration 0700; derivation in scripts/locate_stations.py). Only "agency" and
# "project" locations are points one can walk to; the others are approximate, "unknown" has none.
LOCATION_SOURCES = ("agency", "project", "gazetteer", "district", "unknown")
APPROXIMATE_SOURCES = frozenset({"gazetteer", "district"})


def load_registry() -> pd.DataFrame:
    """The station registry; raises on repeated ids, or on locations out of range or unexplained."""
    with (resources.files("purehealth_pipelines.stations") / "stations.csv").open() as handle:
        frame = pd.read_csv(
            handle,
            dtype={"source_code": "str", "colocated_lab_station_id": "str", "designated_best_use": "str"},
        )
    frame = frame[REGISTRY_COLUMNS]
    duplicated = frame["station_id"][frame["station_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"duplicate station ids in the registry: {sorted(duplicated)}")
    bad = frame[(frame["latitude"].abs() > 90) | (frame["longitude"].abs() > 180)]
    if not bad.empty:
        raise ValueError(f"coordinates out of range for {bad['station_id'].tolist()}")
    unexplained = frame[~frame["location_source"].isin(LOCATION_SOURCES)]
    if not unexplained.empty:
        raise ValueError(f"location_source missing or unknown for {unexplained['station_id'].tolist()}")
    unplaced = frame[(frame["location_source"] != "unknown") & frame["latitude"].isna()]
    if not unplaced.empty:
        raise ValueError(f"a location_source but no coordinates for {unplaced['station_id'].tolist()}")
    # A live station borrows BOD/FC from its co-located lab station's samples: a dangling id would silently
    # leave it without a WQI, so it is a registry error.
    colocated = frame["colocated_lab_station_id"].dropna()
    unknown = colocated[~colocated.isin(frame["station_id"])]
    if not unknown.empty:
        raise ValueError(f"co-located lab stations not in the registry: {sorted(unknown)}")
    designated = frame["designated_best_use"].dropna()
    if not designated.isin(list("ABCDE")).all():
        raise ValueError(f"designated_best_use must be one of A-E: {sorted(set(designated) - set('ABCDE'))}")
    return frame
