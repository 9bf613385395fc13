"""The read API and the dashboard page: one ASGI app (FastAPI), read-only through the analyst login.

Endpoints (OpenAPI at /docs, schema at /openapi.json):
- GET /api/stations                      GeoJSON FeatureCollection, one feature per ref.stations row, with
                                         location_source, status (live/offline/lab-only), WQI, latest values
- GET /api/stations/{id}                 one Feature
- GET /api/stations/{id}/series          raw (with QARTOD flags) / hourly / daily rollups, columnar
- GET /api/stations/{id}/forecasts       the newest forecast issue per parameter, P10/P50/P90 by horizon
- GET /api/stations/{id}/wqi             the daily WQI and best-use class history
- GET /api/alerts                        open / resolved / all, newest change first
- GET /api/parameters, /api/live, /api/health
- POST /api/alerts/{id}/ack|assign|resolve  operators act on alerts: a bearer token and a writer login of
                                         their own, never the analyst's pool (api/alert_actions.py)
Every data endpoint also answers `?format=csv` (the same rows, one per line). Bad parameters get a 4xx with
`{"error": "<what is wrong and what is allowed>"}`: 422 for a malformed value, 400 for a window or limit out
of bounds, 404 for an unknown station or parameter.

Bounds: a series window is at most 31 days raw, 400 days hourly, 20 years daily, and at most `limit` rows
(default 50,000, max 200,000; `truncated` says when it was cut); the sessions' statement timeout is 10 s.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import psycopg
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from purehealth_pipelines.api import alert_actions, ingest, queries
from purehealth_pipelines.api.assets import CachingStaticFiles
from purehealth_pipelines.api.db import Database
from purehealth_pipelines.live import tickets

log = logging.getLogger("purehealth_pipelines.api")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_WINDOW = {"raw": timedelta(days=31), "hourly": timedelta(days=400), "daily": timedelta(days=20 * 366)}
DEFAULT_WINDOW = {"raw": timedelta(days=1), "hourly": timedelta(days=7), "daily": timedelta(days=365)}
SERIES_LIMIT_DEFAULT, SERIES_LIMIT_MAX = 50_000, 200_000
ALERTS_LIMIT_MAX = 1_000
TICKET_KEYS_REFRESH_S = 60.0  # a rotated ticket key is used within a minute


@dataclass
class ApiConfig:
    database_url: str
    statement_timeout_ms: int = 10_000
    # Where browsers reach the WebSocket broadcaster. "{host}" is replaced by the host the page was loaded
    # from, so one setting serves 127.0.0.1 and a LAN address alike. None = no live updates.
    ws_url: str | None = "ws://{host}:8765/"
    # Each page load gets a fresh subscribe-only ticket for the broadcaster (live/tickets.py), never a token.
    ticket_ttl_s: int = tickets.DEFAULT_TTL_S
    static_dir: Path = STATIC_DIR
    pool_size: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


class ApiError(HTTPException):
    """A 4xx with a sentence for the user: rendered as {"error": message}."""


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson: datetimes as ISO-8601, NaN as null, ~10x faster than the stdlib for long series.
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _csv(rows: Iterable[dict[str, Any]], columns: list[str], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)
                for v in map(row.get, columns)
            ]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _utc(value: datetime | None) -> datetime | None:
    """Naive times are read as UTC (documented), so `from=2025-01-01` works as typed."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- OpenAPI schema models (responses are built directly for speed; these document and test their shape) --
class ErrorBody(BaseModel):
    error: str = Field(description="what is wrong with the request and what would be accepted")


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2, description="[longitude, latitude]")


class LatestValue(BaseModel):
    ts: datetime
    value: float | None
    unit: str
    censored: str | None
    source: str
    qc_flag: int = Field(description="QARTOD: 1 pass, 2 not evaluated, 3 suspect, 4 fail, 9 missing")
    quality: str


class StationProperties(BaseModel):
    station_id: str
    name: str
    network: str
    river: str | None
    district: str | None
    basin: str | None
    water_body_type: str | None
    location_source: Literal["agency", "project", "gazetteer", "district", "unknown"]
    location_detail: str | None
    location_uncertainty_km: float | None
    location_approximate: bool
    active: bool
    status: Literal["live", "offline", "lab-only"]
    sensor_health: str | None
    last_reading_at: datetime | None
    wqi: float | None
    wqi_label: str | None
    wqi_class: str | None
    best_use_class: str | None
    wqi_day: datetime | None
    open_alerts: int
    worst_open_severity: str | None
    latest: dict[str, LatestValue]


class StationFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointGeometry | None = Field(description="null when the location is unknown")
    properties: StationProperties


class StationCollection(BaseModel):
    type: Literal["FeatureCollection"]
    generated_at: datetime
    features: list[StationFeature]


class RawColumns(BaseModel):
    unit: str
    ts: list[datetime]
    value: list[float | None]
    qc_flag: list[int]
    censored: list[str | None]
    source: list[str]


class RollupColumns(BaseModel):
    unit: str
    ts: list[datetime] = Field(description="bucket start (IST hour / IST day)")
    mean: list[float | None] = Field(description="over good readings (qc_flag 1) only")
    min: list[float | None]
    max: list[float | None]
    good_count: list[int]
    reading_count: list[int]


class SeriesBody(BaseModel):
    station_id: str
    resolution: Literal["raw", "hourly", "daily"]
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    rows: int
    truncated: bool
    series: dict[str, RawColumns | RollupColumns]


class ForecastHorizon(BaseModel):
    horizon_h: int
    ts: datetime
    p10: float | None
    p50: float | None
    p90: float | None


class ForecastIssue(BaseModel):
    issued_at: datetime
    origin_ts: datetime
    model_version: str
    horizons: list[ForecastHorizon]


class ForecastBody(BaseModel):
    station_id: str
    forecasts: dict[str, ForecastIssue]


class WqiDay(BaseModel):
    day: datetime
    wqi: float | None
    wqi_label: str | None
    wqi_class: str | None
    best_use_class: str | None
    best_use: str | None
    failed_criteria: str | None
    missing_parameters: str | None
    do_mg_l: float | None
    bod_mg_l: float | None
    ph: float | None
    fc_mpn_100ml: float | None
    good_readings: int


class WqiBody(BaseModel):
    station_id: str
    days: list[WqiDay]


class Alert(BaseModel):
    alert_id: int
    station_id: str
    parameter: str
    rule: str
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "resolved"]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    breach_count: int
    last_value: float | None
    worst_value: float | None
    threshold: str | None
    message: str
    updated_at: datetime


class AlertsBody(BaseModel):
    generated_at: datetime
    alerts: list[Alert]


class Parameter(BaseModel):
    code: str
    name: str
    unit: str
    description: str | None


class LiveConfig(BaseModel):
    ws_url: str | None = Field(description="the WebSocket broadcaster for this page; null = no live updates")
    ticket: str | None = Field(
        description="a fresh single-use, subscribe-only ticket: connect with ws_url?token=<ticket> before it"
        " expires (it is checked when the connection opens); ask again for every new connection"
    )
    expires_at: int | None = Field(description="Unix time the ticket expires")


class Health(BaseModel):
    database: Literal["ok", "unavailable"]
    role: str | None
    read_only: bool | None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "a window, limit or combination out of bounds"},
    404: {"model": ErrorBody, "description": "unknown station or parameter"},
    422: {"model": ErrorBody, "description": "a malformed parameter value"},
}
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv: the same rows")]


def create_app(config: ApiConfig) -> FastAPI:
    """The app; the pool opens (and proves the login read-only) when the ASGI server starts it."""
    if not 0 < config.ticket_ttl_s <= tickets.MAX_TTL_S:
        raise ValueError(f"ticket_ttl_s must be 1..{tickets.MAX_TTL_S} s, not {config.ticket_ttl_s}")
    database = Database(
        config.database_url, statement_timeout_ms=config.statement_timeout_ms, max_size=config.pool_size
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        database.open()
        missing = [
            p
            for p in ("maharashtra_districts.map.geojson", "uPlot.iife.min.js")
            if not (config.static_dir / "vendor" / p).exists()
        ]
        if missing:
            log.warning("dashboard assets missing (%s): run `make dashboard-assets`", ", ".join(missing))
        try:
            yield
        finally:
            database.close()

    app = FastAPI(
        title="PureHealth read API",
        version="1",
        summary="Water-quality stations, series, forecasts and alerts of Maharashtra (read-only).",
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.config = config

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return _json({"error": exc.detail}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        messages = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path"))
            messages.append(f"{where}: {error.get('msg')}")
        return _json({"error": "; ".join(messages) or "invalid request"}, 422)

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def _timeout(_: Request, exc: psycopg.errors.QueryCanceled) -> Response:
        return _json({"error": "the query took longer than the API allows; ask for a shorter window"}, 503)

    def known_station(conn: psycopg.Connection, station_id: str) -> None:
        row = conn.execute("SELECT 1 FROM ref.stations WHERE station_id = %s", (station_id,)).fetchone()
        if row is None:
            raise ApiError(404, f"unknown station {station_id!r}: GET /api/stations lists them")

    def known_parameters(conn: psycopg.Connection, wanted: list[str]) -> None:
        units = queries.parameter_units(conn)
        unknown = [p for p in wanted if p not in units]
        if unknown:
            raise ApiError(404, f"unknown parameter(s) {unknown}: one of {sorted(units)}")

    # --- stations -------------------------------------------------------------------------------------------
    @app.get(
        "/api/stations",
        response_model=StationCollection,
        responses={200: {"content": CSV_CONTENT}, **ERRORS},
        tags=["stations"],
        summary="Every station as GeoJSON, with location source, live status, WQI and latest values",
    )
    def get_stations(
        network: Annotated[str | None, Query(description="only this network (NWMP, CWC, MPCB, IOT)")] = None,
        format: Format = "json",
    ) -> Response:
        with database.connection() as conn:
            features = queries.stations(conn)
        if network:
            features = [f for f in features if f["properties"]["network"] == network.upper()]
        if format == "csv":
            columns = [c for c in StationProperties.model_fields if c != "latest"] + ["longitude", "latitude"]
            rows = [
                {
                    **f["properties"],
                    "longitude": (f["geometry"] or {}).get("coordinates", [None, None])[0],
                    "latitude": (f["geometry"] or {}).get("coordinates", [None, None])[1],
                }
                for f in features
            ]
            return _csv(rows, columns, "stations.csv")
        return _json({"type": "FeatureCollection", "generated_at": datetime.now(UTC), "features": features})

    @app.get(
        "/api/stations/{station_id}",
        response_model=StationFeature,
        responses=ERRORS,
        tags=["stations"],
        summary="One station as a GeoJSON Feature",
    )
    def get_station(station_id: str) -> Response:
        with database.connection() as conn:
            features = queries.stations(conn, station_id)
        if not features:
            raise ApiError(404, f"unknown station {station_id!r}: GET /api/stations lists them")
        return _json(features[0])

    @app.get(
        "/api/stations/{station_id}/series",
        response_model=SeriesBody,
        responses={200: {"content": CSV_CONTENT}, **ERRORS},
        tags=["series"],
        summary="A station's readings: raw with QC flags, or hourly / daily rollups of good readings",
    )
    def get_series(
        station_id: str,
        parameter: Annotated[
            list[str] | None, Query(description="parameter code(s), repeatable; default: all the station has")
        ] = None,
        start: Annotated[
            datetime | None, Query(alias="from", description="window start (ISO-8601; naive = UTC)")
        ] = None,
        end: Annotated[
            datetime | None, Query(alias="to", description="window end, exclusive; default now")
        ] = None,
        resolution: Annotated[Literal["raw", "hourly", "daily"], Query()] = "hourly",
        limit: Annotated[int, Query(ge=1, description=f"at most this many rows (≤ {SERIES_LIMIT_MAX:,})")] = (
            SERIES_LIMIT_DEFAULT
        ),
        format: Format = "json",
    ) -> Response:
        end = _utc(end) or datetime.now(UTC)
        start = _utc(start) or end - DEFAULT_WINDOW[resolution]
        if start >= end:
            raise ApiError(400, f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
        if end - start > MAX_WINDOW[resolution]:
            raise ApiError(
                400,
                f"a {resolution} window is at most {MAX_WINDOW[resolution].days} days "
                f"(asked {(end - start).days}); use a coarser resolution or several requests",
            )
        if limit > SERIES_LIMIT_MAX:
            raise ApiError(400, f"limit is at most {SERIES_LIMIT_MAX:,}")
        wanted = sorted({p for value in parameter or [] for p in value.split(",") if p}) or None
        request = queries.SeriesRequest(station_id, wanted, start, end, resolution, limit)
        with database.connection() as conn:
            known_station(conn, station_id)
            if wanted:
                known_parameters(conn, wanted)
            columns, rows, truncated = queries.series(conn, request)
        if format == "csv":
            return _csv(
                ({"station_id": station_id, **dict(zip(columns, row, strict=True))} for row in rows),
                ["station_id", *columns],
                f"{station_id}_{resolution}.csv",
            )
        return _json(
            {
                "station_id": station_id,
                "resolution": resolution,
                "from": start,
                "to": end,
                "rows": len(rows),
                "truncated": truncated,
                "series": queries.group_series(columns, rows),
            }
        )

    @app.get(
        "/api/stations/{station_id}/forecasts",
        response_model=ForecastBody,
        responses={200: {"content": CSV_CONTENT}, **ERRORS},
        tags=["forecasts"],
        summary="The newest forecast issue per parameter (of the last 30 days), with P10–P90 intervals",
    )
    def get_forecasts(
        station_id: str,
        parameter: Annotated[str | None, Query(description="one parameter code; default: all")] = None,
        format: Format = "json",
    ) -> Response:
        with database.connection() as conn:
            known_station(conn, station_id)
            if parameter:
                known_parameters(conn, [parameter])
            rows = queries.latest_forecasts(conn, station_id, parameter, limit=10_000)
        if format == "csv":
            columns = [
                "parameter",
                "issued_at",
                "origin_ts",
                "horizon_h",
                "ts",
                "p10",
                "p50",
                "p90",
                "model_version",
            ]
            return _csv(
                ({"station_id": station_id, **r} for r in rows),
                ["station_id", *columns],
                f"{station_id}_forecasts.csv",
            )
        forecasts: dict[str, dict[str, Any]] = {}
        for row in rows:
            issue = forecasts.setdefault(
                row["parameter"],
                {
                    "issued_at": row["issued_at"],
                    "origin_ts": row["origin_ts"],
                    "model_version": row["model_version"],
                    "horizons": [],
                },
            )
            issue["horizons"].append({k: row[k] for k in ("horizon_h", "ts", "p10", "p50", "p90")})
        return _json({"station_id": station_id, "forecasts": forecasts})

    @app.get(
        "/api/stations/{station_id}/wqi",
        response_model=WqiBody,
        responses={200: {"content": CSV_CONTENT}, **ERRORS},
        tags=["series"],
        summary="Daily CPCB WQI and designated-best-use class history",
    )
    def get_wqi(
        station_id: str,
        start: Annotated[
            datetime | None, Query(alias="from", description="default: a year before 'to'")
        ] = None,
        end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
        format: Format = "json",
    ) -> Response:
        end = _utc(end) or datetime.now(UTC)
        start = _utc(start) or end - timedelta(days=365)
        if start >= end:
            raise ApiError(400, "'from' must be before 'to'")
        if end - start > MAX_WINDOW["daily"]:
            raise ApiError(400, f"a WQI window is at most {MAX_WINDOW['daily'].days} days")
        with database.connection() as conn:
            known_station(conn, station_id)
            days = queries.wqi_history(conn, station_id, start, end, limit=MAX_WINDOW["daily"].days)
        if format == "csv":
            return _csv(
                ({"station_id": station_id, **d} for d in days),
                ["station_id", *WqiDay.model_fields],
                f"{station_id}_wqi.csv",
            )
        return _json({"station_id": station_id, "days": days})

    # --- alerts ---------------------------------------------------------------------------------------------
    @app.get(
        "/api/alerts",
        response_model=AlertsBody,
        responses={200: {"content": CSV_CONTENT}, **ERRORS},
        tags=["alerts"],
        summary="Alerts, most recently changed first",
    )
    def get_alerts(
        status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
        station_id: Annotated[str | None, Query()] = None,
        severity: Annotated[Literal["info", "warning", "critical"] | None, Query()] = None,
        since: Annotated[datetime | None, Query(description="only alerts changed after this time")] = None,
        limit: Annotated[int, Query(ge=1, le=ALERTS_LIMIT_MAX)] = 100,
        format: Format = "json",
    ) -> Response:
        with database.connection() as conn:
            if station_id:
                known_station(conn, station_id)
            rows = queries.alerts(
                conn, status=status, station_id=station_id, severity=severity, since=_utc(since), limit=limit
            )
        if format == "csv":
            return _csv(rows, list(Alert.model_fields), "alerts.csv")
        return _json({"generated_at": datetime.now(UTC), "alerts": rows})

    alert_actions.mount(app, config.database_url)  # POST …/ack|assign|resolve: own writer login and tokens

    # --- reference, live, health ----------------------------------------------------------------------------
    @app.get("/api/parameters", response_model=list[Parameter], tags=["reference"], summary="Parameter codes")
    def get_parameters() -> Response:
        with database.connection() as conn:
            return _json(queries.parameters(conn))

    ticket_keys: dict[str, Any] = {"keys": {}, "read_at": float("-inf")}

    def newest_ticket_key() -> tuple[int, bytes]:
        """The newest ops.ws_ticket_keys row, re-read at most every TICKET_KEYS_REFRESH_S."""
        if time.monotonic() - ticket_keys["read_at"] > TICKET_KEYS_REFRESH_S:
            with database.connection() as conn:
                ticket_keys["keys"] = tickets.load_keys(conn)
            ticket_keys["read_at"] = time.monotonic()
        key_id = max(ticket_keys["keys"])
        return key_id, ticket_keys["keys"][key_id]

    @app.get(
        "/api/live",
        response_model=LiveConfig,
        responses={503: {"model": ErrorBody, "description": "the ticket keys are not readable"}},
        tags=["live"],
        summary="Where this page's browser finds the WebSocket broadcaster, and a fresh ticket for it",
    )
    def get_live(request: Request) -> Response:
        no_store = {"Cache-Control": "no-store"}  # a ticket is for one page load: never cached
        if not config.ws_url:
            return _json({"ws_url": None, "ticket": None, "expires_at": None}, headers=no_store)
        url = config.ws_url.replace("{host}", request.url.hostname or "127.0.0.1")
        try:
            key_id, key = newest_ticket_key()
        except (LookupError, psycopg.errors.InsufficientPrivilege) as exc:
            log.warning("cannot mint broadcaster tickets: %s", exc)
            return _json({"error": f"live updates unavailable: {exc}"}, 503, headers=no_store)
        ticket, expires = tickets.mint(key_id, key, time.time(), config.ticket_ttl_s)
        return _json({"ws_url": url, "ticket": ticket, "expires_at": expires}, headers=no_store)

    @app.get(
        "/api/health", response_model=Health, tags=["live"], summary="Database reachable, role read-only"
    )
    def get_health() -> Response:
        try:
            with database.connection() as conn:
                role, read_only = conn.execute(
                    "SELECT current_user, current_setting('default_transaction_read_only') = 'on'"
                ).fetchone()
            return _json({"database": "ok", "role": role, "read_only": read_only})
        except (psycopg.Error, OSError) as exc:
            log.warning("health check failed: %s", exc)
            return _json({"database": "unavailable", "role": None, "read_only": None}, 503)

    # --- the dashboard and the docs, with no CDN ------------------------------------------------------------
    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="PureHealth read API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(config.static_dir / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        # Served from the root so its scope covers the page and /api (the offline cache).
        return FileResponse(
            config.static_dir / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    app.mount("/static", CachingStaticFiles(directory=config.static_dir), name="static")

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", None)
        if isinstance(detail, str) and detail != "Not Found":
            return _json({"error": detail}, 404)
        return _json({"error": f"no such endpoint {request.url.path!r}: see /docs"}, 404)

    @app.exception_handler(405)
    async def _not_allowed(request: Request, exc: Exception) -> Response:
        return _json({"error": f"{request.method} is not allowed: this API is read-only"}, 405)

    ingest.mount(app, config)  # POST /ingest/v1/... (sensor ingest; its own writer pool): api/ingest.py
    return app
