"""The read API against the real warehouse, read as the analyst: shapes against the app's own OpenAPI schema,
4xx for bad parameters, no way to write, and the speed of a station-year of hourly values."""

from __future__ import annotations

import csv
import io
import statistics
import time
from datetime import timedelta
from typing import Any

import jsonschema
import psycopg
import pytest
from fastapi.testclient import TestClient

from purehealth_pipelines.api.app import ApiConfig, create_app
from purehealth_pipelines.api.db import ReadOnlyViolation
from purehealth_pipelines.live import tickets
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines_tests.api.conftest import LAB, LIVE, Seeded

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> TestClient:
    app = create_app(ApiConfig(database_url=seeded.analyst_url))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def assert_matches_schema(openapi: dict[str, Any], path: str, body: Any, status: str = "200") -> None:
    """Validate a JSON body against the response schema the app publishes for `path` (refs resolved)."""
    schema = openapi["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
    # Refs are '#/components/schemas/X': with the components at the schema's root they resolve.
    resolver_schema = {**schema, "components": openapi["components"]}
    validator = jsonschema.Draft202012Validator(
        resolver_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{path}: {errors[0].message} at {list(errors[0].path)}"


def test_stations_geojson_has_every_registry_station_with_location_and_status(client, openapi) -> None:
    response = client.get("/api/stations")
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema(openapi, "/api/stations", body)
    registry = load_registry()
    assert [f["id"] for f in body["features"]] == sorted(registry["station_id"])
    by_id = {f["id"]: f for f in body["features"]}
    live = by_id[LIVE]["properties"]
    assert live["status"] == "live" and live["location_source"] == "project"
    assert live["wqi_class"] == "B" and live["open_alerts"] == 1 and live["worst_open_severity"] == "critical"
    assert live["latest"]["ph"]["qc_flag"] == 3 and live["latest"]["do_mg_l"]["quality"] == "good"
    lab = by_id[LAB]
    assert lab["properties"]["status"] == "lab-only" and lab["properties"]["location_approximate"] is True
    lon, lat = lab["geometry"]["coordinates"]
    row = registry.set_index("station_id").loc[LAB]
    assert (lat, lon) == pytest.approx((row["latitude"], row["longitude"]))
    unknown = [f for f in body["features"] if f["properties"]["location_source"] == "unknown"]
    assert all(f["geometry"] is None for f in unknown)
    # An IoT station without any reading yet is offline, not live.
    silent = next(f for f in body["features"] if f["properties"]["network"] == "IOT" and f["id"] != LIVE)
    assert silent["properties"]["status"] == "offline"
    one = client.get(f"/api/stations/{LAB}").json()
    assert_matches_schema(openapi, "/api/stations/{station_id}", one)
    assert one == lab


def test_series_raw_hourly_daily_with_qc_and_csv(client, openapi, seeded: Seeded) -> None:
    raw = client.get(
        f"/api/stations/{LIVE}/series", params={"parameter": "do_mg_l", "resolution": "raw"}
    ).json()
    assert_matches_schema(openapi, "/api/stations/{station_id}/series", raw)
    do = raw["series"]["do_mg_l"]
    assert len(do["ts"]) == len(do["value"]) == len(do["qc_flag"]) > 250
    assert set(do["qc_flag"]) == {1, 3} and do["ts"] == sorted(do["ts"])
    start = (seeded.now - timedelta(days=3)).isoformat()
    hourly = client.get(f"/api/stations/{LIVE}/series", params={"from": start, "resolution": "hourly"}).json()
    assert_matches_schema(openapi, "/api/stations/{station_id}/series", hourly)
    assert set(hourly["series"]) == {"do_mg_l", "ph", "temp_c"}
    assert len(hourly["series"]["ph"]["ts"]) == 72 and hourly["series"]["ph"]["good_count"][0] == 12
    limited = client.get(
        f"/api/stations/{LIVE}/series", params={"from": start, "resolution": "hourly", "limit": 10}
    ).json()
    assert limited["rows"] == 10 and limited["truncated"] is True
    exported = client.get(
        f"/api/stations/{LIVE}/series", params={"parameter": "ph", "from": start, "format": "csv"}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 72 and rows[0]["parameter"] == "ph" and rows[0]["station_id"] == LIVE
    assert float(rows[0]["mean"]) == pytest.approx(hourly["series"]["ph"]["mean"][0])


def test_forecasts_wqi_alerts_parameters_live(client, openapi, seeded: Seeded) -> None:
    forecasts = client.get(f"/api/stations/{LIVE}/forecasts").json()
    assert_matches_schema(openapi, "/api/stations/{station_id}/forecasts", forecasts)
    horizons = forecasts["forecasts"]["do_mg_l"]["horizons"]
    assert [h["horizon_h"] for h in horizons] == list(range(1, 25))
    assert all(h["p10"] < h["p50"] < h["p90"] for h in horizons)
    wqi = client.get(f"/api/stations/{LIVE}/wqi").json()
    assert_matches_schema(openapi, "/api/stations/{station_id}/wqi", wqi)
    assert len(wqi["days"]) == 60
    open_alerts = client.get("/api/alerts").json()
    assert_matches_schema(openapi, "/api/alerts", open_alerts)
    assert [a["rule"] for a in open_alerts["alerts"]] == ["do_below_4"]
    every = client.get("/api/alerts", params={"status": "all", "station_id": LIVE}).json()["alerts"]
    assert [a["status"] for a in every] == ["open", "resolved"]  # newest change first
    csv_alerts = client.get("/api/alerts", params={"status": "all", "format": "csv"}).text.splitlines()
    assert csv_alerts[0].startswith("alert_id,station_id") and len(csv_alerts) == 3
    assert {p["code"] for p in client.get("/api/parameters").json()} >= {"do_mg_l", "ph"}
    response = client.get("/api/live")
    live = response.json()
    assert_matches_schema(openapi, "/api/live", live)
    assert response.headers["cache-control"] == "no-store"
    assert live["ws_url"] == "ws://testserver:8765/" and set(live) == {"ws_url", "ticket", "expires_at"}
    # A fresh subscribe-only ticket per load, signed by the warehouse's ticket key (read here as the writer).
    with psycopg.connect(seeded.url) as conn:
        keys = tickets.load_keys(conn)
    now = time.time()
    ticket = tickets.verify(live["ticket"], keys, now)
    assert ticket.scope == "subscribe" and ticket.expires_at == live["expires_at"]
    assert now < live["expires_at"] <= now + tickets.DEFAULT_TTL_S + 1
    assert client.get("/api/live").json()["ticket"] != live["ticket"]


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/api/stations/NOPE/series", {}, 404, "unknown station 'NOPE'"),
        (f"/api/stations/{LIVE}/series", {"parameter": "colour"}, 404, "unknown parameter"),
        (f"/api/stations/{LIVE}/series", {"resolution": "minutely"}, 422, "resolution"),
        (f"/api/stations/{LIVE}/series", {"from": "yesterday"}, 422, "from"),
        (f"/api/stations/{LIVE}/series", {"from": "2025-02-01", "to": "2025-01-01"}, 400, "must be before"),
        (f"/api/stations/{LIVE}/series", {"from": "2024-01-01", "to": "2025-06-01"}, 400, "at most 400 days"),
        (
            f"/api/stations/{LIVE}/series",
            {"resolution": "raw", "from": "2025-01-01", "to": "2025-03-01"},
            400,
            "31",
        ),
        (f"/api/stations/{LIVE}/series", {"limit": 0}, 422, "limit"),
        (f"/api/stations/{LIVE}/series", {"limit": 10**7}, 400, "limit is at most"),
        ("/api/alerts", {"status": "closed"}, 422, "status"),
        ("/api/alerts", {"limit": 5000}, 422, "limit"),
        ("/api/alerts", {"station_id": "NOPE"}, 404, "unknown station"),
        ("/api/stations/NOPE", {}, 404, "unknown station"),
        ("/api/nothing", {}, 404, "no such endpoint"),
    ],
)
def test_bad_parameters_get_a_4xx_with_a_message(client, path, params, status, needle) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_the_api_cannot_write(client, seeded: Seeded) -> None:
    assert client.post("/api/stations", json={}).status_code == 405
    assert client.delete(f"/api/stations/{LIVE}").status_code == 405
    health = client.get("/api/health").json()
    assert health == {"database": "ok", "role": "analyst", "read_only": True}
    # Even with a raw session from the API's own pool, the database refuses writes.
    with client.app.state.database.connection() as conn:
        for statement in (
            "DELETE FROM mart.alerts",
            "INSERT INTO ref.stations (station_id, name, network) VALUES ('X', 'x', 'IOT')",
        ):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute(statement)
        conn.execute("SET default_transaction_read_only = off")  # a session can lift its default ...
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # ... but the role has no privilege
            conn.execute("DELETE FROM mart.alerts")
        conn.execute("SET default_transaction_read_only = on")


def test_the_api_refuses_a_login_that_can_write(seeded: Seeded) -> None:
    app = create_app(ApiConfig(database_url=seeded.url))
    with pytest.raises(ReadOnlyViolation, match="can write"), TestClient(app):
        pass


def test_a_station_year_of_hourly_values_returns_in_tens_of_ms(client, seeded: Seeded) -> None:
    params = {
        "parameter": "do_mg_l",
        "resolution": "hourly",
        "from": (seeded.now - timedelta(days=366)).isoformat(),
        "to": seeded.now.isoformat(),
    }
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        response = client.get(f"/api/stations/{LIVE}/series", params=params)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    body = response.json()
    assert body["rows"] == seeded.hours and not body["truncated"]
    median_ms = statistics.median(timings[2:]) * 1000
    print(f"one station-year hourly ({body['rows']} rows): median {median_ms:.1f} ms")
    assert median_ms < 100
