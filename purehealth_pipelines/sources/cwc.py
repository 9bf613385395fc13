"""CWC river water level and discharge from the India-WRIS Dataset API.

`POST https://indiawris.gov.in/Dataset/<River Water Level|River Water Discharge>` with every parameter in
the query string (stateName, districtName, agencyName, startdate, enddate, download=false, page, size); the
response is `{"data": [{stationCode, stationName, latitude, longitude, dataValue, dataTime, unit, …}]}`.
A blank district returns nothing, so we ask district by district; we page until a short page
(water_quality.md §5). Station ids are 'CWC-<SLUG of stationName>', as in ref.stations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from purehealth_pipelines.sources.common import IST, dead_letter_frame, station_slug
from purehealth_pipelines.sources.http import PublisherClient, PublisherSchemaError

SOURCE = "cwc"
TABLE = "raw.cwc_river_levels"
WRIS_BASE_URL = "https://indiawris.gov.in/Dataset"
DATASETS = {"River Water Level": "water_level_m", "River Water Discharge": "discharge_m3_s"}
CANONICAL_UNIT = {"water_level_m": "m", "discharge_m3_s": "m³/s"}
# Published unit spellings -> factor to the canonical unit.
UNIT_FACTORS = {
    "water_level_m": {"m": 1.0, "meter": 1.0, "metre": 1.0, "mtr": 1.0, "cm": 0.01},
    "discharge_m3_s": {"m3/s": 1.0, "m³/s": 1.0, "cumec": 1.0, "cumecs": 1.0, "m3/sec": 1.0},
}
PHYSICAL_RANGE = {"water_level_m": (-20.0, 2000.0), "discharge_m3_s": (0.0, 150_000.0)}
REQUIRED_KEYS = ("stationCode", "stationName", "dataValue", "dataTime")
COLUMNS = ["station_id", "parameter", "ts", "value", "unit", "station_code", "latitude", "longitude"]


@dataclass
class WrisFetch:
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (dataset, record)
    requests: int = 0
    origins: list[str] = field(default_factory=list)


def fetch_wris(
    client: PublisherClient,
    *,
    districts: Iterable[str],
    start: pd.Timestamp,
    end_inclusive: pd.Timestamp,
    state: str = "Maharashtra",
    agency: str = "CWC",
    page_size: int = 1000,
    base_url: str = WRIS_BASE_URL,
    datasets: Iterable[str] = tuple(DATASETS),
    max_pages: int = 500,
) -> WrisFetch:
    """Every record for the districts and dates, per dataset, paging until a short page."""
    result = WrisFetch()
    for dataset in datasets:
        for district in sorted(set(districts)):
            for page in range(max_pages):
                params = {
                    "stateName": state,
                    "districtName": district,
                    "agencyName": agency,
                    "startdate": start.strftime("%Y-%m-%d"),
                    "enddate": end_inclusive.strftime("%Y-%m-%d"),
                    "download": "false",
                    "page": page,
                    "size": page_size,
                }
                body = client.post_json(f"{base_url.rstrip('/')}/{dataset}", params=params)
                result.requests += 1
                if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
                    raise PublisherSchemaError(
                        f"India-WRIS {dataset!r}: expected {{'data': [...]}}, got {str(body)[:120]!r}"
                    )
                rows = body.get("data") or []
                result.records.extend((dataset, r) for r in rows)
                if len(rows) < page_size:
                    break
            result.origins.append(f"{dataset}/{district}")
    return result


def parse_wris_records(
    records: list[tuple[str, dict[str, Any]]],
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """India-WRIS records -> (raw.cwc_river_levels rows, dead letters). Naive times are IST."""
    if records and all(not any(k in r for k in REQUIRED_KEYS) for _, r in records):
        raise PublisherSchemaError(
            f"India-WRIS records lack every expected key; first: {records[0][1]!r:.200}"
        )
    out: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    for dataset, record in records:
        parameter = DATASETS.get(dataset)
        payload = str(record)[:2000]
        missing = [k for k in REQUIRED_KEYS if record.get(k) in (None, "")]
        if parameter is None or missing:
            reason = f"unknown dataset {dataset!r}" if parameter is None else f"missing fields: {missing}"
            dead.append(
                {"origin": dataset, "payload": payload, "reason": reason, "partition_ts": window_start}
            )
            continue
        try:
            ts = pd.Timestamp(
                str(record["dataTime"]).replace(".0", "", 1)
                if str(record["dataTime"]).endswith(".0")
                else str(record["dataTime"])
            )
        except ValueError:
            dead.append(
                {
                    "origin": dataset,
                    "payload": payload,
                    "reason": "unparseable dataTime",
                    "partition_ts": window_start,
                }
            )
            continue
        ts = ts.tz_localize(IST) if ts.tzinfo is None else ts
        if not window_start <= ts < window_end:
            continue  # the API pads the range; not ours
        try:
            value = float(record["dataValue"])
        except (TypeError, ValueError):
            dead.append(
                {
                    "origin": dataset,
                    "payload": payload,
                    "reason": f"non-numeric dataValue {record['dataValue']!r}",
                    "partition_ts": ts,
                }
            )
            continue
        unit_text = str(record.get("unit") or CANONICAL_UNIT[parameter]).strip().lower()
        factor = UNIT_FACTORS[parameter].get(unit_text)
        if factor is None:
            dead.append(
                {
                    "origin": dataset,
                    "payload": payload,
                    "reason": f"unknown unit {record.get('unit')!r}",
                    "partition_ts": ts,
                }
            )
            continue
        value *= factor
        low, high = PHYSICAL_RANGE[parameter]
        if not low <= value <= high:
            dead.append(
                {
                    "origin": dataset,
                    "payload": payload,
                    "reason": f"outside physical range: {parameter} {value} not in [{low}, {high}]",
                    "partition_ts": ts,
                }
            )
            continue
        out.append(
            {
                "station_id": f"CWC-{station_slug(str(record['stationName']))}",
                "parameter": parameter,
                "ts": ts.tz_convert("UTC"),
                "value": value,
                "unit": CANONICAL_UNIT[parameter],
                "station_code": str(record["stationCode"]).strip(),
                "latitude": _float_or_none(record.get("latitude")),
                "longitude": _float_or_none(record.get("longitude")),
            }
        )
    rows = pd.DataFrame(out, columns=COLUMNS)
    if not rows.empty:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
        before = len(rows)
        rows = rows.drop_duplicates(["station_id", "parameter", "ts"], keep="last").reset_index(drop=True)
        if len(rows) < before:
            dead.append(
                {
                    "origin": "India-WRIS",
                    "payload": None,
                    "partition_ts": window_start,
                    "reason": f"duplicate readings: {before - len(rows)} repeated (station, parameter, time)",
                }
            )
    rows["value"] = rows["value"].astype("float64")
    return rows, dead_letter_frame(SOURCE, dead)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
