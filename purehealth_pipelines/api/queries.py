"""The SQL behind each endpoint: plain functions of a connection and validated arguments.

Every query names its table and columns, filters on an indexed prefix (station_id, parameter, time) and is
bounded by a LIMIT the caller chose (app.py caps it), so no request can scan a whole hypertable. Rows come
back through psycopg's own type adaptation (timestamptz -> aware datetime), never re-parsed from text.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from purehealth_pipelines.stations.registry import APPROXIMATE_SOURCES

RESOLUTIONS = ("raw", "hourly", "daily")
ROLLUP_TABLES = {"hourly": "mart.readings_hourly", "daily": "mart.readings_daily"}
QUALITY = {1: "good", 2: "not evaluated", 3: "suspect", 4: "bad", 9: "missing"}


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def station_ids(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT station_id FROM ref.stations").fetchall()}


def parameter_units(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT code, unit FROM ref.parameters").fetchall())


def parameters(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT code, name, unit, description FROM ref.parameters ORDER BY code", {})


def _status(network: str, sensor_health: str | None) -> str:
    """live / offline / lab-only: what a map colours a station by.

    Only IoT stations report continuously; every other network (CPCB NWMP, MPCB, CWC) is sampled in the field
    and analysed in a lab, so "offline" would be meaningless for them.
    """
    if network != "IOT":
        return "lab-only"
    return "live" if sensor_health in ("ok", "degraded") else "offline"


def stations(conn: psycopg.Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    """One GeoJSON Feature per station of ref.stations (geometry null where the location is unknown)."""
    where = "WHERE s.station_id = %(station_id)s" if station_id else ""
    registry = _rows(
        conn,
        f"""SELECT s.station_id, s.name, s.network, s.river, s.district, s.basin, s.water_body_type,
                   s.latitude, s.longitude, s.location_source, s.location_detail, s.location_uncertainty_km,
                   s.active
              FROM ref.stations s {where}
             ORDER BY s.station_id""",
        {"station_id": station_id},
    )
    status = _rows(
        conn,
        f"""SELECT station_id, parameter, ts, value, unit, censored, source, qc_flag, quality,
                   wqi_day, wqi, wqi_label, wqi_class, best_use_class, last_reading_at, sensor_health,
                   open_alerts, worst_open_severity
              FROM mart.station_status {where.replace("s.station_id", "station_id")}""",
        {"station_id": station_id},
    )
    by_station: dict[str, list[dict[str, Any]]] = {}
    for row in status:
        by_station.setdefault(row["station_id"], []).append(row)
    features = []
    for station in registry:
        rows = by_station.get(station["station_id"], [])
        first = rows[0] if rows else {}
        properties = {
            key: station[key]
            for key in (
                "station_id",
                "name",
                "network",
                "river",
                "district",
                "basin",
                "water_body_type",
                "location_source",
                "location_detail",
                "location_uncertainty_km",
                "active",
            )
        }
        properties |= {
            "location_approximate": station["location_source"] in APPROXIMATE_SOURCES,
            "status": _status(station["network"], first.get("sensor_health")),
            "sensor_health": first.get("sensor_health"),
            "last_reading_at": first.get("last_reading_at"),
            "wqi": first.get("wqi"),
            "wqi_label": first.get("wqi_label"),
            "wqi_class": first.get("wqi_class"),
            "best_use_class": first.get("best_use_class"),
            "wqi_day": first.get("wqi_day"),
            "open_alerts": first.get("open_alerts", 0),
            "worst_open_severity": first.get("worst_open_severity"),
            "latest": {
                row["parameter"]: {
                    key: row[key]
                    for key in ("ts", "value", "unit", "censored", "source", "qc_flag", "quality")
                }
                for row in sorted(rows, key=lambda r: r["parameter"])
            },
        }
        geometry = None
        if station["latitude"] is not None and station["longitude"] is not None:
            geometry = {"type": "Point", "coordinates": [station["longitude"], station["latitude"]]}
        features.append(
            {"type": "Feature", "id": station["station_id"], "geometry": geometry, "properties": properties}
        )
    return features


@dataclass(frozen=True)
class SeriesRequest:
    station_id: str
    parameters: list[str] | None  # None = every parameter the station has in the window
    start: datetime
    end: datetime
    resolution: str
    limit: int


def series(conn: psycopg.Connection, request: SeriesRequest) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """(column names, rows ordered by parameter and time, True if `limit` cut it short).

    raw: core.readings_preferred (the highest-priority source per instant) with its QARTOD flag; hourly and
    daily: the marts' rollups, whose mean/min/max are over good readings only, with good_count and
    reading_count so a client can show how much of the bucket was usable. Rows come as plain tuples over a
    binary cursor: a station-year of hourly values is ~9 k rows x 8 columns, and dict rows over text cost
    twice the time of the query itself.
    """
    params = {
        "station_id": request.station_id,
        "all": request.parameters is None,
        "parameters": request.parameters or [],
        "start": request.start,
        "end": request.end,
        "limit": request.limit + 1,
    }
    if request.resolution == "raw":
        query = """SELECT parameter, ts, unit, value, censored, qc_flag, quality, source
                     FROM core.readings_preferred
                    WHERE station_id = %(station_id)s AND (%(all)s OR parameter = ANY(%(parameters)s))
                      AND ts >= %(start)s AND ts < %(end)s
                    ORDER BY parameter, ts
                    LIMIT %(limit)s"""
    else:
        query = f"""SELECT parameter, bucket AS ts, unit, value_mean AS mean, value_min AS min,
                           value_max AS max, good_count, reading_count
                      FROM {ROLLUP_TABLES[request.resolution]}
                     WHERE station_id = %(station_id)s AND (%(all)s OR parameter = ANY(%(parameters)s))
                       AND bucket >= %(start)s AND bucket < %(end)s
                     ORDER BY parameter, bucket
                     LIMIT %(limit)s"""
    with conn.cursor(binary=True) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
        columns = [column.name for column in cur.description or []]
    truncated = len(rows) > request.limit
    return columns, rows[: request.limit], truncated


def group_series(columns: list[str], rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """Rows -> {parameter: {unit, column: [...]}}: one array per column (compact; what charts take)."""
    index = {name: i for i, name in enumerate(columns)}
    wanted = [c for c in columns if c not in ("parameter", "unit", "quality")]
    grouped: dict[str, dict[str, Any]] = {}
    for parameter, group in itertools.groupby(rows, key=lambda row: row[0]):
        block = list(group)
        transposed = list(zip(*block, strict=True))
        grouped[parameter] = {
            "unit": block[0][index["unit"]],
            **{name: transposed[index[name]] for name in wanted},
        }
    return grouped


def latest_forecasts(
    conn: psycopg.Connection, station_id: str, parameter: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest forecast issue per parameter of a station (older issues are superseded), by horizon."""
    return _rows(
        conn,
        """SELECT f.parameter, f.issued_at, f.origin_ts, f.horizon_h, f.ts, f.p10, f.p50, f.p90,
                  f.model_version
             FROM mart.forecasts f
             JOIN (SELECT parameter, max(issued_at) AS issued_at
                     FROM mart.forecasts
                    WHERE station_id = %(station_id)s
                      AND (%(parameter)s::text IS NULL OR parameter = %(parameter)s)
                      AND issued_at > now() - interval '30 days'
                    GROUP BY parameter) latest USING (parameter, issued_at)
            WHERE f.station_id = %(station_id)s
            ORDER BY f.parameter, f.horizon_h
            LIMIT %(limit)s""",
        {"station_id": station_id, "parameter": parameter, "limit": limit},
    )


def wqi_history(
    conn: psycopg.Connection, station_id: str, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT day, wqi, wqi_label, wqi_class, best_use_class, best_use, failed_criteria,
                  missing_parameters, do_mg_l, bod_mg_l, ph, fc_mpn_100ml, good_readings
             FROM mart.station_wqi_daily
            WHERE station_id = %(station_id)s AND day >= %(start)s AND day < %(end)s
            ORDER BY day
            LIMIT %(limit)s""",
        {"station_id": station_id, "start": start, "end": end, "limit": limit},
    )


ALERT_COLUMNS = (
    "alert_id, station_id, parameter, rule, severity, status, first_seen, last_seen, resolved_at, "
    "breach_count, last_value, worst_value, threshold, message, updated_at"
)


def alerts(
    conn: psycopg.Connection,
    *,
    status: str,
    station_id: str | None,
    severity: str | None,
    since: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Alerts, most recently changed first: open, resolved or both; optionally changed after `since`."""
    return _rows(
        conn,
        f"""SELECT {ALERT_COLUMNS}
              FROM mart.alerts
             WHERE (%(status)s = 'all' OR status = %(status)s)
               AND (%(station_id)s::text IS NULL OR station_id = %(station_id)s)
               AND (%(severity)s::text IS NULL OR severity = %(severity)s)
               AND (%(since)s::timestamptz IS NULL OR updated_at > %(since)s)
             ORDER BY updated_at DESC, alert_id DESC
             LIMIT %(limit)s""",
        {"status": status, "station_id": station_id, "severity": severity, "since": since, "limit": limit},
    )
