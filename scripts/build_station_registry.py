"""Rebuild purehealth_pipelines/stations/stations.csv from the real public station lists in ../shared/data.

Run once when the public lists change: `python scripts/build_station_registry.py`. The registry is committed
(so the project runs without shared/); this script documents where every row came from.
Then run `python scripts/locate_stations.py`: it gives every row coordinates and a location_source.
- NWMP: station codes and names of Maharashtra river stations in CPCB's NWMP tables 2012–2023; the most
  recent name wins when a code was spelled several ways. River and district are parsed from the name.
- CWC: Central Water Commission water-quality stations (India-WRIS), with coordinates.
- IOT: the live sensor stations of the demo, sited at real monitoring points (approximate coordinates).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from purehealth_pipelines.settings import shared_data_dir  # noqa: E402

RIVER_BASIN = {
    "KRISHNA": "Krishna",
    "KOYNA": "Krishna",
    "PANCHGANGA": "Krishna",
    "WARNA": "Krishna",
    "BHIMA": "Krishna",
    "MULA": "Krishna",
    "MUTHA": "Krishna",
    "PAWANA": "Krishna",
    "INDRAYANI": "Krishna",
    "NIRA": "Krishna",
    "GHOD": "Krishna",
    "SINA": "Krishna",
    "VENNA": "Krishna",
    "URMODI": "Krishna",
    "KUNDALIKA": "West flowing",
    "GODAVARI": "Godavari",
    "PRAVARA": "Godavari",
    "DARNA": "Godavari",
    "PURNA": "Godavari",
    "WARDHA": "Godavari",
    "WAINGANGA": "Godavari",
    "PENGANGA": "Godavari",
    "KANHAN": "Godavari",
    "NAG": "Godavari",
    "MANJIRA": "Godavari",
    "KOLAR": "Godavari",
    "PENCH": "Godavari",
    "TAPI": "Tapi",
    "GIRNA": "Tapi",
    "PANZARA": "Tapi",
    "MITHI": "West flowing",
    "ULHAS": "West flowing",
    "KALU": "West flowing",
    "PATALGANGA": "West flowing",
    "AMBA": "West flowing",
    "SAVITRI": "West flowing",
    "VASHISHTI": "West flowing",
    "BHATSA": "West flowing",
    "VAITARNA": "West flowing",
    "SURYA": "West flowing",
    "PEHLAR": "West flowing",
    "KAN": "Tapi",
    "BORI": "Tapi",
    "MOR": "Tapi",
    "WAGHUR": "Tapi",
    "GOMAI": "Tapi",
    "KUNDALIKA_": "West flowing",
}

IOT_STATIONS = [
    # station_id, name, river, district, basin, lat, lon, water body
    ("IOT-PUNE-MULA-01", "Mula at Aundh bridge (sensor)", "Mula", "Pune", "Krishna", 18.560, 73.810, "river"),
    ("IOT-PUNE-MUTHA-01", "Mutha at Deccan (sensor)", "Mutha", "Pune", "Krishna", 18.517, 73.843, "river"),
    ("IOT-PUNE-PAWANA-01", "Pawana at Pimpri (sensor)", "Pawana", "Pune", "Krishna", 18.627, 73.800, "river"),
    ("IOT-PUNE-BHIMA-01", "Bhima at Pargaon (sensor)", "Bhima", "Pune", "Krishna", 18.596, 74.335, "river"),
    (
        "IOT-NASHIK-GODAVARI-01",
        "Godavari at Ramkund (sensor)",
        "Godavari",
        "Nashik",
        "Godavari",
        20.008,
        73.793,
        "river",
    ),
    (
        "IOT-KARAD-KRISHNA-01",
        "Krishna at Karad (sensor)",
        "Krishna",
        "Satara",
        "Krishna",
        17.289,
        74.182,
        "river",
    ),
    (
        "IOT-SANGLI-KRISHNA-01",
        "Krishna at Sangli (sensor)",
        "Krishna",
        "Sangli",
        "Krishna",
        16.856,
        74.566,
        "river",
    ),
    (
        "IOT-KOLHAPUR-PANCHGANGA-01",
        "Panchganga at Kolhapur (sensor)",
        "Panchganga",
        "Kolhapur",
        "Krishna",
        16.713,
        74.233,
        "river",
    ),
    (
        "IOT-MUMBAI-MITHI-01",
        "Mithi at Mahim causeway (sensor)",
        "Mithi",
        "Mumbai Suburban",
        "West flowing",
        19.043,
        72.846,
        "creek",
    ),
    (
        "IOT-THANE-ULHAS-01",
        "Ulhas at Mohone (sensor)",
        "Ulhas",
        "Thane",
        "West flowing",
        19.226,
        73.163,
        "river",
    ),
    ("IOT-NAGPUR-NAG-01", "Nag at Nagpur (sensor)", "Nag", "Nagpur", "Godavari", 21.146, 79.088, "river"),
    ("IOT-JALGAON-TAPI-01", "Tapi at Bhusawal (sensor)", "Tapi", "Jalgaon", "Tapi", 21.046, 75.785, "river"),
]

# Live sensors sited at an NWMP/MPCB grab-sampling point (same bridge or ghat, per the station names): the
# live WQI takes BOD/FC/TC from that lab station's latest sample (mart.station_wqi_daily). Mithi,
# Ulhas at Mohone and Nag have no lab station at the site in the NWMP tables.
COLOCATED_LAB_STATIONS = {
    "IOT-PUNE-MULA-01": "NWMP-2193",  # Mula at Aundh bridge
    "IOT-PUNE-MUTHA-01": "NWMP-2679",  # Mutha at Deccan bridge
    "IOT-PUNE-PAWANA-01": "NWMP-2694",  # Pawana at Pimprigaon
    "IOT-PUNE-BHIMA-01": "NWMP-1191",  # Bhima at Pargaon
    "IOT-NASHIK-GODAVARI-01": "NWMP-1096",  # Godavari at Ramkund
    "IOT-KARAD-KRISHNA-01": "NWMP-36",  # Krishna at Karad
    "IOT-SANGLI-KRISHNA-01": "NWMP-1181",  # Krishna at Sangli
    "IOT-KOLHAPUR-PANCHGANGA-01": "NWMP-1905",  # Panchaganga at Kolhapur
    "IOT-JALGAON-TAPI-01": "NWMP-1251",  # Tapi at Bhusawal
}


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def nwmp_stations(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str)
    frame.columns = [c.strip() for c in frame.columns]
    mh = frame[frame["State"].fillna("").str.upper().str.contains("MAHARASHTRA")].copy()
    mh["code"] = mh["Station Code"].fillna("").map(lambda c: re.sub(r"\D", "", c))
    mh = mh[mh["code"] != ""]
    mh["year"] = pd.to_numeric(mh["Year"], errors="coerce")
    latest = mh.sort_values("year").groupby("code").tail(1)
    rows = []
    for _, rec in latest.iterrows():
        name = _clean(rec["Monitoring Location"])
        river_match = re.search(r"(?:RIVER|CREEK|NALLA|NALA)\s+([A-Z]+)", name.upper())
        river = river_match.group(1).title() if river_match else None
        district_match = re.search(r"DIST(?:RICT)?\.?\s*([A-Z ]+?)(?:[,.)]|$)", name.upper())
        body = "creek" if "CREEK" in name.upper() else ("drain" if "NALLA" in name.upper() else "river")
        rows.append(
            {
                "station_id": f"NWMP-{rec['code']}",
                "name": name,
                "network": "NWMP",
                "source_code": rec["code"],
                "river": river,
                "district": district_match.group(1).strip().title() if district_match else None,
                "basin": RIVER_BASIN.get((river or "").upper()),
                "water_body_type": body,
                "latitude": None,
                "longitude": None,
            }
        )
    return pd.DataFrame(rows)


def cwc_stations(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str)
    rows = []
    for _, rec in frame.iterrows():
        name = _clean(rec["StationName"])
        slug = re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")
        rows.append(
            {
                "station_id": f"CWC-{slug}",
                "name": name,
                "network": "CWC",
                "source_code": rec["dcid"],
                "river": None,
                "district": _clean(rec["DistrictName"]),
                "basin": None,
                "water_body_type": "river",
                "latitude": round(float(rec["WaterStationLatitude"]), 5),
                "longitude": round(float(rec["WaterStationLongitude"]), 5),
            }
        )
    return pd.DataFrame(rows).drop_duplicates("station_id")


def main() -> None:
    data = shared_data_dir()
    iot = pd.DataFrame(
        [
            {
                "station_id": s,
                "name": n,
                "network": "IOT",
                "source_code": s,
                "river": r,
                "district": d,
                "basin": b,
                "water_body_type": w,
                "latitude": lat,
                "longitude": lon,
                "colocated_lab_station_id": COLOCATED_LAB_STATIONS.get(s),
            }
            for s, n, r, d, b, lat, lon, w in IOT_STATIONS
        ]
    )
    registry = pd.concat(
        [
            nwmp_stations(data / "cpcb_nwmp_river_2012_2023.csv"),
            cwc_stations(data / "cwc_wq_stations_maharashtra.csv"),
            iot,
        ],
        ignore_index=True,
    ).sort_values("station_id")
    # No public source designates best-use classes per stretch in a machine-readable form: left empty
    # (NULL) for an operator to fill; the annual WQI mart then applies its default class.
    registry["designated_best_use"] = None
    out = ROOT / "purehealth_pipelines" / "stations" / "stations.csv"
    registry.to_csv(out, index=False)
    print(f"wrote {len(registry)} stations to {out}; now run scripts/locate_stations.py")


if __name__ == "__main__":
    main()
