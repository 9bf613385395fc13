"""A small, deterministic model of Maharashtra river water quality for the offline demo publishers.

Ranges and seasonality follow docs/water_quality.md §4 (derived from NWMP 2012–2023 and MPCB reports):
- Pune urban rivers (Mula, Mutha, Pawana, Bhima below Pune): DO 0–7 mg/l, BOD 3–32, EC to ~9,800 µS/cm;
- tidal creeks (Mithi): DO 0.7–4.9, BOD 19–56, EC 4,400–29,000;
- clean stretches (Krishna at Rajapur/Kurundwad): DO 4.8–7.7, BOD 1.4–4.8;
- stretches below towns and industry (D/S of a town, MIDC, paper or sugar mills) sit between the two;
- pre-monsoon (Apr–May) is worst for DO/BOD; monsoon (Jun–Sep) dilutes BOD, lifts DO, and rain raises
  coliform and turbidity; water temperature ~12 °C winter minimum (Nashik) to 35–40 °C pre-monsoon.
- some stations slowly improve or deteriorate year on year (station_drift), so the annual WQI trend has
  something to find, as in MPCB's reports where a few stretches change class every year.
With these, MPCB's WQI classes come out mostly A–C (about half A), with some stretches below.
Every value is a pure function of (seed, station, time): the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np


def stable_rng(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded from the parts' text (stable across processes, unlike hash())."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class StationProfile:
    kind: str  # 'urban_polluted', 'tidal_creek', 'clean', 'moderate'
    do_mg_l: tuple[float, float]
    bod_mg_l: tuple[float, float]
    ec_us_cm: tuple[float, float]
    tc_mpn_100ml: tuple[float, float]  # dry-season range; monsoon multiplies it
    nitrate_n_mg_l: tuple[float, float]


PROFILES = {
    "urban_polluted": StationProfile(
        "urban_polluted", (0.3, 6.2), (6.0, 32.0), (600, 9800), (900, 1600), (1, 8)
    ),
    "tidal_creek": StationProfile(
        "tidal_creek", (0.7, 4.9), (19.0, 56.0), (4400, 29000), (1100, 1800), (2, 12)
    ),
    "clean": StationProfile("clean", (4.8, 7.7), (1.4, 4.8), (150, 600), (9, 60), (0.3, 2)),
    "moderate": StationProfile("moderate", (4.0, 7.2), (2.2, 9.0), (250, 1500), (40, 500), (0.4, 4)),
    "impacted": StationProfile("impacted", (2.8, 6.6), (3.5, 14.0), (400, 2500), (250, 1600), (1, 6)),
}
_URBAN = ("MULA", "MUTHA", "PAWANA", "PUNE", "NAG ", "NAG-", "ULHAS AT", "KALU", "VALDEVI", "NASHIK-GODAVARI")
_TIDAL = ("MITHI", "CREEK", "MAHIM", "THANE CREEK", "ESTUARY")
_CLEAN = ("KRISHNA", "KOYNA", "WAINGANGA", "VAITARNA", "KUNDALIKA", "TANSA", "SAVITRI")
_IMPACTED = ("D/S", "DOWNSTREAM", "MIDC", "PAPER MILL", "SUGAR", "ICHALKARANJI", "INDUSTR")


def profile_for(station_id: str, name: str = "") -> StationProfile:
    text = f"{station_id} {name}".upper()
    if any(t in text for t in _TIDAL):
        return PROFILES["tidal_creek"]
    if any(t in text for t in _URBAN):
        return PROFILES["urban_polluted"]
    if any(t in text for t in _IMPACTED):
        return PROFILES["impacted"]
    if any(t in text for t in _CLEAN):
        return PROFILES["clean"]
    return PROFILES["moderate"]


def season_weight(month: int) -> dict[str, float]:
    """0..1 position inside each range by month: pre-monsoon stress, monsoon dilution and runoff."""
    premonsoon = 1.0 if month in (4, 5) else 0.6 if month == 3 else 0.0
    monsoon = 1.0 if month in (7, 8) else 0.7 if month in (6, 9) else 0.2 if month == 10 else 0.0
    return {
        "bod": min(1.0, 0.45 + 0.5 * premonsoon - 0.4 * monsoon),  # high before the rains, diluted in them
        "do": min(1.0, max(0.0, 0.55 - 0.45 * premonsoon + 0.35 * monsoon)),
        "coliform": min(1.0, 0.2 + 0.8 * monsoon),
        "ec": max(0.0, 0.55 + 0.35 * premonsoon - 0.5 * monsoon),
    }


def water_temperature_c(day_of_year: float) -> float:
    """Seasonal water temperature: ~14 °C in early January to ~33 °C in May (Maharashtra plateau rivers)."""
    return (
        23.5
        - 9.5 * math.cos(2 * math.pi * (day_of_year - 20) / 365.25)
        + 1.5 * math.sin(4 * math.pi * (day_of_year - 20) / 365.25)
    )


def in_range(
    bounds: tuple[float, float], weight: float, rng: np.random.Generator, spread: float = 0.15
) -> float:
    low, high = bounds
    w = min(1.0, max(0.0, weight + rng.normal(0, spread)))
    return low + (high - low) * w


DRIFT_REFERENCE_YEAR = 2024


def station_drift(station_id: str, seed: int) -> float:
    """Yearly shift of a station's position in its BOD/DO ranges: a fifth improve, a fifth deteriorate."""
    roll = stable_rng(seed, "drift", station_id).random()
    return -0.06 if roll < 0.2 else 0.06 if roll > 0.8 else 0.0


def monthly_sample(station_id: str, name: str, year: int, month: int, seed: int) -> dict[str, float]:
    """One grab sample (the monthly NWMP/MPCB visit) in the station's realistic range for the season."""
    rng = stable_rng(seed, "sample", station_id, year, month)
    profile = profile_for(station_id, name)
    w = season_weight(month)
    shift = station_drift(station_id, seed) * (year + (month - 1) / 12 - DRIFT_REFERENCE_YEAR)
    w = {**w, "bod": w["bod"] + shift, "do": w["do"] - shift}
    tc = in_range(profile.tc_mpn_100ml, w["coliform"], rng) * (1 + 6 * w["coliform"] * rng.random())
    bod = in_range(profile.bod_mg_l, w["bod"], rng)
    return {
        "temp_c": round(water_temperature_c(30.4 * (month - 0.5)) + rng.normal(0, 1.2), 1),
        "do_mg_l": round(in_range(profile.do_mg_l, w["do"], rng), 1),
        "ph": round(min(9.2, max(6.3, rng.normal(7.6 if profile.kind != "urban_polluted" else 7.3, 0.3))), 1),
        "ec_us_cm": round(in_range(profile.ec_us_cm, w["ec"], rng)),
        "bod_mg_l": round(bod, 1),
        "nitrate_n_mg_l": round(in_range(profile.nitrate_n_mg_l, 0.5, rng, 0.3), 2),
        "tc_mpn_100ml": round(tc),
        "fc_mpn_100ml": round(tc * rng.uniform(0.2, 0.45)),
        "fs_mpn_100ml": round(tc * rng.uniform(0.02, 0.1)),
    }


def monsoon_rain_mm_per_day(day_of_year: int) -> float:
    """Climatological mean daily rain over Maharashtra: ~0 Dec–Apr, peak ~20 mm/day in July (IMD normals)."""
    peak = 196  # mid-July
    return 0.3 + 19.0 * math.exp(-(((day_of_year - peak) / 38.0) ** 2))
