"""CWC river water level and discharge from the India-WRIS Dataset API.

`POST https://indiawris.gov.in/Dataset/<River Water Level|River Water Discharge>` with every parameter in
the query string (stateName, districtName, agencyName, startdate, enddate, download=false, page, size); the
response is `{"data": [{stationCode, stationName, latitude, longitude, dataValue, dataTime, unit, …}]}`.
A blank district returns nothing, so we ask district by district; we page until a short page
(docs/water_quality.md §5). Station ids are 'CWC-<SLUG of stationName>', as in ref.stations.

What real responses showed: WRIS returns *every* datatype of a station, each record with a `datatypeCode`:
observed (`QOB`) and computed (`QCO`, from the rating curve) discharge, and several level series (`HHS`,
`HZS`, `HHT`, `HZF`). Ignoring the code made an observed and a computed discharge at the same hour collide,
the last one winning. So the code is kept (`datatype_code`), and at one station, parameter and time the
best-ranked datatype wins (`DATATYPES`: observed over computed); the others are counted (`superseded`) in
the facts. WRIS publishes no definition of the level codes; the ranking below is ours, stated here so it
can be challenged: HHS (hourly stage, the gauge reading) first, then HHT and HZS; HZF is read as a forecast
level and kept out (counted in `not_observations`). A code not in the table is dead-lettered ("unknown
datatypeCode"), never guessed. Numbers arrive as strings, including "NaN": that is "not a number", not a
value outside the physical range. A record stamped after the fetch time (`now`) cannot be a reading and is
dead-lettered.
"""

from __future__ import annotations

import math
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
COLUMNS = [
    "station_id",
    "parameter",
    "ts",
    "value",
    "unit",
    "station_code",
    "latitude",
    "longitude",
    "datatype_code",
]


@dataclass(frozen=True)
class Datatype:
    """How a WRIS datatypeCode lands: its parameter, its rank (lower wins at the same station and time) and
    whether it is an observation at all."""

    parameter: str
    rank: int
    observation: bool
    meaning: str


DATATYPES: dict[str, Datatype] = {
    "QOB": Datatype("discharge_m3_s", 1, True, "observed discharge (current-meter gauging)"),
    "QCO": Datatype("discharge_m3_s", 2, True, "computed discharge (rating curve)"),
    "HHS": Datatype("water_level_m", 1, True, "hourly stage, gauge reading"),
    "HHT": Datatype("water_level_m", 2, True, "hourly stage, telemetry"),
    "HZS": Datatype("water_level_m", 3, True, "stage, other series"),
    "HZF": Datatype("water_level_m", 9, False, "forecast level (not an observation)"),
}
FUTURE_TOLERANCE = pd.Timedelta(minutes=15)  # clock skew between WRIS and us


@dataclass
class WrisParse:
    rows: pd.DataFrame
    dead_letters: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)


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
    *,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """India-WRIS records -> (raw.cwc_river_levels rows, dead letters). See `parse_wris` for the facts."""
    parsed = parse_wris(records, window_start, window_end, now=now)
    return parsed.rows, parsed.dead_letters


def parse_wris(
    records: list[tuple[str, dict[str, Any]]],
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    *,
    now: pd.Timestamp | None = None,
) -> WrisParse:
    """India-WRIS records -> rows, dead letters and facts (datatype codes seen, superseded, not observations).

    Naive times are IST. `now` (default: the current time) bounds the newest plausible reading.
    """
    if records and all(not any(k in r for k in REQUIRED_KEYS) for _, r in records):
        raise PublisherSchemaError(
            f"India-WRIS records lack every expected key; first: {records[0][1]!r:.200}"
        )
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    out: list[dict[str, Any]] = []
    ranks: list[int] = []
    dead: list[dict[str, Any]] = []
    codes_seen: dict[str, int] = {}
    not_observations: dict[str, int] = {}

    def reject(dataset: str, payload: str, reason: str, ts: pd.Timestamp) -> None:
        dead.append({"origin": dataset, "payload": payload, "reason": reason, "partition_ts": ts})

    for dataset, record in records:
        parameter = DATASETS.get(dataset)
        payload = str(record)[:2000]
        missing = [k for k in REQUIRED_KEYS if record.get(k) in (None, "")]
        if parameter is None or missing:
            reason = f"unknown dataset {dataset!r}" if parameter is None else f"missing fields: {missing}"
            reject(dataset, payload, reason, window_start)
            continue
        code = str(record.get("datatypeCode") or "").strip().upper() or None
        rank = 1
        if code is not None:
            codes_seen[code] = codes_seen.get(code, 0) + 1
            datatype = DATATYPES.get(code)
            if datatype is None:
                reject(dataset, payload, f"unknown datatypeCode {code!r}", window_start)
                continue
            if datatype.parameter != parameter:
                reject(
                    dataset,
                    payload,
                    f"datatypeCode {code!r} ({datatype.meaning}) does not belong to dataset {dataset!r}",
                    window_start,
                )
                continue
            if not datatype.observation:
                not_observations[code] = not_observations.get(code, 0) + 1
                continue
            rank = datatype.rank
        try:
            ts = pd.Timestamp(
                str(record["dataTime"]).replace(".0", "", 1)
                if str(record["dataTime"]).endswith(".0")
                else str(record["dataTime"])
            )
        except ValueError:
            reject(dataset, payload, "unparseable dataTime", window_start)
            continue
        ts = ts.tz_localize(IST) if ts.tzinfo is None else ts
        if not window_start <= ts < window_end:
            continue  # the API pads the range; not ours
        if ts > now + FUTURE_TOLERANCE:
            reject(
                dataset, payload, f"stamped in the future: {ts.isoformat()} is after {now.isoformat()}", ts
            )
            continue
        try:
            value = float(str(record["dataValue"]).strip())
        except (TypeError, ValueError):
            reject(dataset, payload, f"non-numeric dataValue {record['dataValue']!r}", ts)
            continue
        if math.isnan(value) or math.isinf(value):
            reject(dataset, payload, f"not a number: dataValue {record['dataValue']!r}", ts)
            continue
        unit_text = str(record.get("unit") or CANONICAL_UNIT[parameter]).strip().lower()
        factor = UNIT_FACTORS[parameter].get(unit_text)
        if factor is None:
            reject(dataset, payload, f"unknown unit {record.get('unit')!r}", ts)
            continue
        value *= factor
        low, high = PHYSICAL_RANGE[parameter]
        if not low <= value <= high:
            reject(
                dataset, payload, f"outside physical range: {parameter} {value} not in [{low}, {high}]", ts
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
                "datatype_code": code,
            }
        )
        ranks.append(rank)
    rows = pd.DataFrame(out, columns=COLUMNS)
    superseded: dict[str, int] = {}
    if not rows.empty:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
        rows["_rank"] = ranks
        rows["_order"] = range(len(rows))
        key = ["station_id", "parameter", "ts"]
        # Best datatype first; within one datatype the last record published wins (as before).
        rows = rows.sort_values([*key, "_rank", "_order"], ascending=[True, True, True, True, False])
        keep = ~rows.duplicated(key, keep="first")
        winners, losers = rows[keep], rows[~keep]
        paired = losers[[*key, "_rank", "datatype_code"]].merge(
            winners[[*key, "_rank", "datatype_code"]], on=key, suffixes=("", "_winner")
        )
        worse = paired[paired["_rank"] > paired["_rank_winner"]]
        for (loser, winner), n in (
            worse[["datatype_code", "datatype_code_winner"]].fillna("none").value_counts().items()
        ):
            superseded[f"{loser} under {winner}"] = int(n)
        repeated = len(paired) - len(worse)
        rows = winners.sort_values("_order").drop(columns=["_rank", "_order"]).reset_index(drop=True)
        if repeated:
            dead.append(
                {
                    "origin": "India-WRIS",
                    "payload": None,
                    "partition_ts": window_start,
                    "reason": f"duplicate readings: {repeated} repeated (station, parameter, time)",
                }
            )
    rows["value"] = rows["value"].astype("float64")
    facts = {
        "datatype_codes": codes_seen,
        "superseded": superseded,
        "not_observations": not_observations,
    }
    return WrisParse(rows=rows, dead_letters=dead_letter_frame(SOURCE, dead), facts=facts)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
