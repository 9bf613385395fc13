"""Offline 'publishers': generate each government source's response bytes in its real format.

`demo_transport(seed)` is an httpx.MockTransport that answers the same URLs the live clients call (CPCB NWMP
tables, data.gov.in OGD, MPCB tables, India-WRIS Dataset, IMD gridded downloads), so demo mode runs the real
HTTP client and parsers. Output is deterministic per seed and includes the publishers' dirt
(docs/water_quality.md §4–5): wrapped names and numbers, 'BDL', '-', a duplicated station-year, a garbage
cell, coliform capped at the MPN table's top.
"""

from __future__ import annotations

import csv
import io
import json
import re
from functools import lru_cache
from urllib.parse import parse_qs

import httpx
import numpy as np
import pandas as pd

from purehealth_pipelines.demo.gridded import grd_bytes
from purehealth_pipelines.demo.profiles import monsoon_rain_mm_per_day, monthly_sample, stable_rng
from purehealth_pipelines.sources import cpcb_nwmp
from purehealth_pipelines.sources.datagov import OGD_PAGE_CAP
from purehealth_pipelines.sources.mpcb import MONTHS, financial_year_label
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.vocabulary import TIMEZONE

NWMP_HEADER = [
    "Station Code",
    "Monitoring Location ",  # trailing space: data.gov.in id "monitoring_location_"
    "State",
    "Temperature (°C) Min",
    "Temperature (°C) Max",
    "Dissolved Oxygen (mg/L) Min",
    "Dissolved Oxygen (mg/L) Max",
    "pH Min",
    "pH Max",
    "Conductivity (µmho/cm) Min",
    "Conductivity (µmho/cm) Max",
    "  BOD (mg/L) Min",
    " BOD (mg/L) Max",
    "Nitrate N (mg/L) Min",
    "Nitrate N (mg/L) Max",
    "Fecal Coliform (MPN/100ml) Min",
    "Fecal Coliform (MPN/100ml) Max",
    " Total Coliform (MPN/100ml) Min",
    " Total Coliform (MPN/100ml) Max",
    " Fecal Streptococci (MPN/100ml) Min",
    " Fecal Streptococci (MPN/100ml) Max",
    "Year",
]
# The parameters of the compilation's layout, in its column order (NWMP_HEADER).
NWMP_PARAMS = tuple(cpcb_nwmp.map_columns(NWMP_HEADER[3:-1])[h][0] for h in NWMP_HEADER[3:-1:2])
REGIONAL_OFFICES = {
    "Pune": "Pune",
    "Satara": "Pune",
    "Solapur": "Pune",
    "Kolhapur": "Kolhapur",
    "Sangli": "Kolhapur",
    "Ratnagiri": "Kolhapur",
    "Sindhudurg": "Kolhapur",
    "Nashik": "Nashik",
    "Jalgaon": "Nashik",
    "Dhule": "Nashik",
    "Nandurbar": "Nashik",
    "Ahmednagar": "Nashik",
    "Nagpur": "Nagpur",
    "Chandrapur": "Chandrapur",
    "Gadchiroli": "Chandrapur",
    "Amravati": "Amravati",
    "Akola": "Amravati",
    "Thane": "Thane",
    "Raigad": "Raigad",
    "Mumbai": "Mumbai",
    "Aurangabad": "Aurangabad",
    "Nanded": "Aurangabad",
    "Parbhani": "Aurangabad",
}


@lru_cache(maxsize=1)
def nwmp_stations() -> pd.DataFrame:
    registry = load_registry()
    return registry[registry["network"] == "NWMP"].reset_index(drop=True)


def _wrap(text: str, rng: np.random.Generator) -> str:
    """Insert a newline + space inside long names, as the PDF-to-CSV compilation does."""
    if len(text) > 50 and rng.random() < 0.3:
        cut = text.rfind(" ", 0, 45)
        return text[:cut] + "\n" + text[cut:] if cut > 0 else text
    return text


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def nwmp_year_records(year: int, seed: int) -> list[list[str]]:
    """One NWMP year: a row per Maharashtra station with annual Min/Max of 12 monthly samples, plus dirt."""
    rng = stable_rng(seed, "nwmp-dirt", year)
    records: list[list[str]] = []
    for station in nwmp_stations().itertuples():
        samples = [monthly_sample(station.station_id, station.name, year, m, seed) for m in range(1, 13)]
        cells: list[str] = []
        for parameter in NWMP_PARAMS:
            values = [s[parameter] for s in samples]
            low, high = min(values), max(values)
            for stat, value in (("min", low), ("max", high)):
                roll = rng.random()
                if roll < 0.04:
                    cells.append(rng.choice(["-", "_", "--", ""]))  # not measured
                elif parameter == "bod_mg_l" and stat == "min" and value < 2.0 and roll < 0.5:
                    cells.append("BDL")
                elif parameter == "fs_mpn_100ml" and stat == "min" and value < 3:
                    cells.append("<2")
                elif value >= 10_000 and roll < 0.3:
                    digits = _fmt(value)
                    cells.append(digits[:-1] + "\n " + digits[-1])  # a number wrapped over two lines
                else:
                    cells.append(_fmt(value))
        code = str(station.source_code)
        records.append([code, _wrap(str(station.name), rng), "MAHARASHTRA", *cells, str(year)])
    # Publisher dirt that a parser must survive (each is dead-lettered with a reason or tolerated):
    if records:
        records.append(list(records[len(records) // 2]))  # the same station-year published twice
        garbage = list(records[1])
        garbage[11] = ".1.4"  # an unparseable BOD min
        records[1] = garbage
        records.append(["", "", "", *[""] * 18, ""])  # a blank continuation row
        spaced = list(records[2])
        spaced[0] = " " + spaced[0] + " "  # a code spelled with spaces
        records[2] = spaced
    return records


def nwmp_table_csv(year: int, seed: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(NWMP_HEADER)
    writer.writerows(nwmp_year_records(year, seed))
    return buffer.getvalue()


def ogd_field_id(header: str) -> str:
    """data.gov.in's field id for a column name: every run of other characters becomes one underscore, and
    leading/trailing ones are kept (real ids: '_month_', 'oil_companies_', 'quantity_000_metric_tonnes_')."""
    return re.sub(r"[^a-z0-9]+", "_", header.lower())


def ogd_page(year: int, seed: int, offset: int, limit: int) -> dict:
    """data.gov.in OGD JSON for the NWMP table of `year`, as the real API answers: every value a string,
    `total`/`count` numbers but `limit`/`offset` strings, underscored field ids, and at most 10 records a
    page whatever `limit` asks for."""
    field_ids = [ogd_field_id(h) for h in NWMP_HEADER]
    fields = [
        {"id": i, "name": h.strip(), "type": "double" if "(" in h else "keyword"}
        for i, h in zip(field_ids, NWMP_HEADER, strict=True)
    ]
    records = [
        {key: str(value) for key, value in zip(field_ids, r, strict=True)}
        for r in nwmp_year_records(year, seed)
    ]
    page = records[offset : offset + min(limit, OGD_PAGE_CAP)]
    return {
        "index_name": f"demo-nwmp-{year}",
        "title": f"Water Quality of Rivers under NWMP {year} (demo)",
        "status": "ok",
        "message": "Resource detail",
        "total": len(records),
        "count": len(page),
        "limit": str(min(limit, OGD_PAGE_CAP)),
        "offset": str(offset),
        "field": fields,
        "records": page,
    }


def mpcb_table_csv(fy_start_year: int, seed: int) -> str:
    """MPCB's monthly table for one financial year, by month plus average: pH, BOD, DO, total and fecal
    coliform (FC is one of the four parameters of MPCB's own WQI), conductivity, nitrate and temperature,
    each label stating its unit as the report's annexes do."""
    rng = stable_rng(seed, "mpcb-dirt", fy_start_year)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [f"Water Quality of Rivers in Maharashtra {financial_year_label(fy_start_year)} (NWMP/SWMP)"]
    )
    writer.writerow([])
    writer.writerow(
        [
            "Sr. No.",
            "Station Code",
            "Name of Monitoring Location",
            "Regional Office",
            "Frequency",
            "Parameter",
            *MONTHS,
            "Average",
        ]
    )
    serial = 0
    labels = {
        "ph": "pH",
        "bod_mg_l": "BOD (mg/l)",
        "do_mg_l": "DO (mg/l)",
        "tc_mpn_100ml": "Total Coliform (MPN/100ml)",
        "fc_mpn_100ml": "Fecal Coliform (MPN/100 ml)",
        "ec_us_cm": "Conductivity (µmhos/cm)",
        "nitrate_n_mg_l": "Nitrate-N (mg/l)",
        "temp_c": "Temperature (°C)",
    }
    # A lab station with a live sensor at the same site is a priority site, sampled every month (the live WQI
    # borrows its BOD and coliform); about a fifth of the others are sampled quarterly.
    colocated = set(load_registry()["colocated_lab_station_id"].dropna())
    for index, station in enumerate(nwmp_stations().itertuples()):
        quarterly = (
            station.station_id not in colocated
            and stable_rng(seed, "freq", station.station_id).random() < 0.2
        )
        samples = []
        for i in range(12):
            year, month = fy_start_year + (1 if i >= 9 else 0), 1 + (i + 3) % 12
            samples.append(monthly_sample(station.station_id, station.name, year, month, seed))
        for parameter, label in labels.items():
            serial += 1
            cells, numbers = [], []
            for i, sample in enumerate(samples):
                if quarterly and i % 3:
                    cells.append("NS")
                    continue
                value = sample[parameter]
                roll = rng.random()
                if roll < 0.02:
                    cells.append("-")
                    continue
                if parameter in ("tc_mpn_100ml", "fc_mpn_100ml") and value >= 1600:
                    cells.append(">1600" if roll < 0.5 else "1600")
                    numbers.append(1600.0)
                    continue
                # A typo ('7.2.7'): now and then, and in every month's nitrate of a few stations, so each
                # month's table has some dirt to dead-letter (a parameter the WQI does not need).
                if roll > 0.997 or (parameter == "nitrate_n_mg_l" and (index + i) % 40 == 0):
                    cells.append(f"{value}.{int(value)}")
                    continue
                numbers.append(value)
                cells.append(f"{value:g}")
            average = f"{np.mean(numbers):.1f}" if numbers else "-"
            district = station.district if isinstance(station.district, str) else ""
            writer.writerow(
                [
                    serial,
                    station.source_code,
                    station.name,
                    REGIONAL_OFFICES.get(district, "Pune"),
                    "Quarterly" if quarterly else "Monthly",
                    label,
                    *cells,
                    average,
                ]
            )
    return buffer.getvalue()


@lru_cache(maxsize=1)
def cwc_stations() -> pd.DataFrame:
    registry = load_registry()
    return registry[(registry["network"] == "CWC") & registry["latitude"].notna()].reset_index(drop=True)


def wris_records(
    dataset: str, district: str, start: str, end: str, seed: int, now: pd.Timestamp | None = None
) -> list[dict]:
    """India-WRIS records for a district and date range, as the real API answers: every datatype of a station
    with its `datatypeCode` (hourly gauge levels `HHS`, some telemetry levels `HHT` at the same hours, a daily
    forecast level `HZF`; a daily observed discharge `QOB` at 08:00 beside computed `QCO` ones at 08:00 and
    20:00), numbers as strings (an occasional "NaN"), and nothing stamped after `now` (default: the current
    time in IST) — a real publisher cannot send a reading it has not taken yet."""
    stations = cwc_stations()
    stations = stations[stations["district"].str.lower() == district.lower()]
    days = pd.date_range(start, end, freq="D")
    latest = (
        (pd.Timestamp.now(tz=TIMEZONE) if now is None else pd.Timestamp(now))
        .tz_convert(TIMEZONE)
        .tz_localize(None)
    )
    out: list[dict] = []
    for station in stations.itertuples():
        base = stable_rng(seed, "stage", station.station_id)
        datum = float(base.uniform(20, 560))  # gauge zero above MSL
        code = f"{base.integers(1, 99):03d}-{station.district[:3].upper()}DHYD"
        for day in days:
            doy = day.dayofyear
            rng = stable_rng(seed, "wris", station.station_id, day.strftime("%Y-%m-%d"))
            wetness = monsoon_rain_mm_per_day(doy) / 19.3 * rng.uniform(0.5, 1.5)
            stage = 1.2 + 6.0 * wetness  # metres above the dry-season bed
            if dataset == "River Water Level":
                for hour in range(24):
                    level = datum + stage + 0.15 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 0.02)
                    value: object = f"{level:.2f}"
                    roll = rng.random()
                    if roll < 0.002:
                        value = rng.choice(["NA", "-9999.0"])  # the telemetry's bad values
                    elif roll < 0.004:
                        value = "NaN"
                    ts = day + pd.Timedelta(hours=hour)
                    out.append(_wris_record(station, code, value, ts, "m", "HHS"))
                    if hour % 6 == 0:  # the telemetry series at the same hour, a little off the gauge
                        telemetry = f"{level + rng.normal(0, 0.03):.2f}"
                        out.append(_wris_record(station, code, telemetry, ts, "m", "HHT"))
                forecast = f"{datum + stage * 1.1:.2f}"
                out.append(_wris_record(station, code, forecast, day + pd.Timedelta(hours=8), "m", "HZF"))
            else:
                discharge = 3.0 + 40.0 * stage**1.6  # a rating curve Q = a + b·h^1.6
                observed = discharge * rng.uniform(0.9, 1.1)  # a gauging differs from the rating curve
                for hour, value, datatype in (
                    (8, discharge, "QCO"),
                    (8, observed, "QOB"),
                    (20, discharge * rng.uniform(0.97, 1.03), "QCO"),
                ):
                    out.append(
                        _wris_record(
                            station, code, f"{value:.1f}", day + pd.Timedelta(hours=hour), "m3/s", datatype
                        )
                    )
    return [r for r in out if pd.Timestamp(r["dataTime"].removesuffix(".0")) <= latest]


def _wris_record(station, code: str, value: object, ts: pd.Timestamp, unit: str, datatype: str) -> dict:
    return {
        "stationCode": code,
        "stationName": station.name,
        "stationType": "Level Forecast",
        "latitude": station.latitude,
        "longitude": station.longitude,
        "agencyName": "CWC",
        "state": "Maharashtra",
        "district": station.district,
        "datatypeCode": datatype,
        "dataValue": value,
        "dataTime": ts.strftime("%Y-%m-%d %H:%M:%S.0"),
        "unit": unit,
    }


@lru_cache(maxsize=8)
def _cached_grd(year: int, seed: int, kind: str) -> bytes:
    return grd_bytes(year, seed, kind)


def demo_transport(seed: int = 42) -> httpx.MockTransport:
    """The offline publishers behind the live URLs (any host; routed by path)."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = dict(request.url.params)
        if "/resource/" in path:  # data.gov.in OGD
            if not params.get("api-key"):
                return httpx.Response(403, json={"status": "error", "message": "Invalid API key"})
            match = re.search(r"(\d{4})", path)
            if not match:
                return httpx.Response(404, json={"status": "error", "message": "Resource not found"})
            body = ogd_page(
                int(match.group(1)), seed, int(params.get("offset", 0)), int(params.get("limit", 10))
            )
            return httpx.Response(200, json=body)
        if "nwmp" in path.lower():
            match = re.search(r"(\d{4})", path)
            if not match:
                return httpx.Response(404, text="Not Found")
            return httpx.Response(
                200,
                text=nwmp_table_csv(int(match.group(1)), seed),
                headers={"content-type": "text/csv; charset=utf-8"},
            )
        if "mpcb" in request.url.host or "mpcb" in path.lower():
            match = re.search(r"(\d{4})-(\d{2})", path)
            if not match:
                return httpx.Response(404, text="Not Found")
            return httpx.Response(
                200,
                text=mpcb_table_csv(int(match.group(1)), seed),
                headers={"content-type": "text/csv; charset=utf-8"},
            )
        if "/Dataset/" in path:  # India-WRIS
            dataset = path.rsplit("/Dataset/", 1)[1]
            if not params.get("districtName"):
                return httpx.Response(200, json={"statusCode": 200, "message": "No data", "data": []})
            records = wris_records(
                dataset, params["districtName"], params["startdate"], params["enddate"], seed
            )
            page, size = int(params.get("page", 0)), int(params.get("size", 1000))
            return httpx.Response(
                200,
                json={
                    "statusCode": 200,
                    "message": "Data fetched successfully",
                    "data": records[page * size : (page + 1) * size],
                },
            )
        if "Griddata" in path:  # IMD gridded archive: form field carries the year
            form = parse_qs(request.content.decode())
            # rainfall.php serves the .grd rain archive; RF25.php serves NetCDF, which the demo does not make.
            kind = {"rainfall.php": "rain", "maxtemp.php": "tmax", "mintemp.php": "tmin"}.get(
                path.rsplit("/", 1)[1]
            )
            values = next(iter(form.values()), [None])
            if kind is None or not values[0]:
                return httpx.Response(404, text="Not Found")
            return httpx.Response(
                200,
                content=_cached_grd(int(values[0]), seed, kind),
                headers={"content-type": "application/octet-stream"},
            )
        return httpx.Response(404, text=f"demo publisher has no {path}")

    return httpx.MockTransport(handler)


def ogd_json_text(year: int, seed: int) -> str:
    return json.dumps(ogd_page(year, seed, 0, 10_000))
