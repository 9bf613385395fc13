"""The HTTP layer, data.gov.in / India-WRIS clients and the Earth Engine graph, faked only at the boundary
(httpx.MockTransport with responses in the publishers' real shapes; EE compute call)."""

from __future__ import annotations

import json

import ee
import httpx
import pandas as pd
import pytest

from purehealth_pipelines.sources import cwc, datagov, earth_engine
from purehealth_pipelines.sources.http import (
    PublisherAuthError,
    PublisherClient,
    PublisherSchemaError,
    PublisherUnavailable,
    RetryPolicy,
)
from purehealth_pipelines.sources.resources import EarthEngineResource


def client_for(handler, attempts: int = 4, sleeps: list | None = None) -> PublisherClient:
    return PublisherClient(
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=attempts),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        seed=1,
        rate_limit_per_host=0,
    )


def test_retries_429_and_5xx_and_timeouts_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        if len(calls) == 2:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"ok": True})

    sleeps: list[float] = []
    assert client_for(handler, sleeps=sleeps).get_json("https://x.test/a") == {"ok": True}
    assert len(calls) == 4
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert all(0 <= s <= 30 for s in sleeps[1:])  # jittered backoff within the cap


def test_gives_up_after_the_retry_budget() -> None:
    client = client_for(lambda r: httpx.Response(502, text="Bad Gateway"), attempts=3)
    with pytest.raises(PublisherUnavailable, match="failed 3 times; last: HTTP 502"):
        client.get_json("https://x.test/a")
    assert client.attempts_made == 3


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10)
    import random

    rng = random.Random(3)
    assert all(policy.delay(0, rng) <= 1 for _ in range(50))
    assert max(policy.delay(3, rng) for _ in range(200)) > 4
    assert all(policy.delay(10, rng) <= 10 for _ in range(50))


def test_auth_failure_is_not_retried_and_key_is_redacted() -> None:
    client = client_for(lambda r: httpx.Response(403, json={"status": "error", "message": "Invalid API key"}))
    with pytest.raises(PublisherAuthError) as info:
        client.get_json("https://api.data.gov.in/resource/abc", params={"api-key": "SECRET"})
    assert client.attempts_made == 1 and "SECRET" not in str(info.value)


def test_garbage_body_is_a_schema_error() -> None:
    client = client_for(lambda r: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(PublisherSchemaError, match="did not return JSON"):
        client.get_json("https://x.test/a")


def _ogd_handler(total: int, page_cap: int | None = None):
    fields = [
        {"id": "station_code", "name": "Station Code", "type": "keyword"},
        {"id": "ph_min", "name": "pH Min", "type": "double"},
    ]
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        offset, limit = int(params["offset"]), int(params["limit"])
        seen.append((offset, limit, params.get("filters[state]")))
        stop = min(total, offset + limit) if page_cap is None else min(page_cap, offset + limit)
        records = [{"station_code": str(1000 + i), "ph_min": "7.1"} for i in range(offset, max(offset, stop))]
        return httpx.Response(
            200,
            json={
                "status": "ok",
                "total": total,
                "count": len(records),
                "limit": str(limit),
                "offset": str(offset),
                "field": fields,
                "records": records,
            },
        )

    return handler, seen


def test_ogd_paginates_until_total() -> None:
    handler, seen = _ogd_handler(total=25)
    result = datagov.fetch_ogd_records(
        client_for(handler), "res", "key", filters={"state": "Maharashtra"}, page_size=10
    )
    assert len(result.records) == 25 and [s[0] for s in seen] == [0, 10, 20] and seen[0][2] == "Maharashtra"
    text = datagov.records_to_table_text(result)
    assert text.splitlines()[0] == "Station Code,pH Min"


def test_ogd_empty_page_before_total_is_retried_then_fails_the_pull() -> None:
    handler, seen = _ogd_handler(total=50, page_cap=15)  # the server claims 50 but runs dry at 15
    sleeps: list[float] = []
    with pytest.raises(datagov.OgdIncompleteError, match="partial pull of 15 of 50"):
        datagov.fetch_ogd_records(client_for(handler, sleeps=sleeps), "res", "key", page_size=10)
    assert [s[0] for s in seen] == [0, 10, 15, 15, 15, 15]  # 1 try + 3 retries at the empty offset
    assert len(sleeps) == 3


def test_ogd_transient_empty_page_is_retried_and_the_pull_completes() -> None:
    handler, _ = _ogd_handler(total=25)
    empties = {10: 1}

    def flaky(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        if empties.get(offset):
            empties[offset] -= 1
            body = json.loads(handler(request).content)
            return httpx.Response(200, json={**body, "count": 0, "records": []})
        return handler(request)

    result = datagov.fetch_ogd_records(client_for(flaky), "res", "key")
    assert len(result.records) == 25 and result.empty_page_retries == 1
    assert [r["station_code"] for r in result.records] == [str(1000 + i) for i in range(25)]


def test_ogd_page_cap_of_10_whatever_limit_says() -> None:
    inner, seen = _ogd_handler(total=34)

    def capped(request: httpx.Request) -> httpx.Response:
        body = json.loads(inner(request).content)
        return httpx.Response(200, json={**body, "records": body["records"][:10], "limit": "10"})

    result = datagov.fetch_ogd_records(client_for(capped), "res", "key", page_size=500)
    assert len(result.records) == 34 and [s[0] for s in seen] == [0, 10, 20, 30]
    assert len({r["station_code"] for r in result.records}) == 34


def test_ogd_rejects_bad_shapes() -> None:
    bad = client_for(lambda r: httpx.Response(200, json={"status": "ok", "total": "x", "records": []}))
    with pytest.raises(PublisherSchemaError, match="total"):
        datagov.fetch_ogd_records(bad, "res", "key")
    moved = client_for(lambda r: httpx.Response(200, json={"data": []}))
    with pytest.raises(PublisherSchemaError, match="no 'records'"):
        datagov.fetch_ogd_records(moved, "res", "key")
    keyless = client_for(
        lambda r: httpx.Response(200, json={"status": "error", "message": "Invalid API key"})
    )
    with pytest.raises(PublisherAuthError):
        datagov.fetch_ogd_records(keyless, "res", "key")


def test_wris_posts_query_parameters_and_pages_until_a_short_page() -> None:
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = int(request.url.params["page"])
        n = 3 if page < 2 else 1
        data = [
            {
                "stationCode": "X",
                "stationName": "Karad",
                "dataValue": 1.0 + page,
                "latitude": 17.3,
                "longitude": 74.0,
                "dataTime": f"2024-07-01 0{page}:0{i}:00.0",
                "unit": "m",
            }
            for i in range(n)
        ]
        return httpx.Response(200, json={"statusCode": 200, "data": data})

    fetched = cwc.fetch_wris(
        client_for(handler),
        districts=["Satara"],
        start=pd.Timestamp("2024-07-01"),
        end_inclusive=pd.Timestamp("2024-07-01"),
        page_size=3,
        datasets=["River Water Level"],
    )
    assert len(fetched.records) == 7 and len(requests) == 3
    first = requests[0]
    assert first.method == "POST" and first.url.path == "/Dataset/River Water Level"
    assert first.url.params["districtName"] == "Satara" and first.url.params["download"] == "false"
    broken = client_for(lambda r: httpx.Response(200, json={"data": "oops"}))
    with pytest.raises(PublisherSchemaError):
        cwc.fetch_wris(
            broken,
            districts=["Satara"],
            start=pd.Timestamp("2024-07-01"),
            end_inclusive=pd.Timestamp("2024-07-01"),
        )


@pytest.fixture(scope="module")
def offline_ee() -> None:
    """earthengine-api offline: its own test algorithm catalogue (docs/stack_notes.md). Pinned to 1.7."""
    earth_engine.initialize_offline()


STATIONS = pd.DataFrame(
    {
        "station_id": ["CWC-KARAD", "IOT-PUNE-MULA-01"],
        "name": ["Karad", "Mula"],
        "latitude": [17.3, 18.56],
        "longitude": [74.067, 73.81],
    }
)


def test_ee_graph_builds_and_serializes_offline(offline_ee: None) -> None:
    graph = earth_engine.build_indices_collection(
        STATIONS, "2024-03-01", "2024-03-08", buffer_m=60
    ).serialize()
    parsed = json.loads(graph)
    text = json.dumps(parsed)
    for needle in (
        "COPERNICUS/S2_SR_HARMONIZED",
        "LANDSAT/LC08/C02/T1_L2",
        "LANDSAT/LC09/C02/T1_L2",
        "SCL",
        "QA_PIXEL",
        "QA_RADSAT",
        "reduceRegions",
        "Reducer.count",
        "CWC-KARAD",
        "2.75e-05",
    ):
        assert needle in text, needle
    assert '"scale"' in text and "normalizedDifference" in text


def test_ee_resource_fetches_a_table_via_the_faked_compute_call(offline_ee: None, monkeypatch) -> None:
    captured = {}

    def fake_compute(params):
        captured["graph"] = params["expression"].serialize()
        assert params["fileFormat"] == "PANDAS_DATAFRAME"
        return pd.DataFrame(
            [
                {
                    "station_id": "CWC-KARAD",
                    "scene_id": "s",
                    "platform": "sentinel2",
                    "time_start": 1709789400000,
                    "ndwi_mean": 0.3,
                    "mndwi_mean": 0.4,
                    "ndti_mean": 0.0,
                    "ndci_mean": 0.05,
                    "ndwi_count": 90,
                }
            ]
        )

    monkeypatch.setattr(ee.data, "computeFeatures", fake_compute)
    resource = EarthEngineResource(mode="live", project="offline-test")
    monkeypatch.setattr(earth_engine, "_initialized", "live")
    table, graph = resource.fetch_indices(STATIONS, "2024-03-01", "2024-03-08")
    assert captured["graph"] == graph and len(table) == 1


def test_ee_backs_off_on_quota_errors_only() -> None:
    attempts = []

    def flaky(params):
        attempts.append(1)
        if len(attempts) < 3:
            raise ee.EEException("Too many concurrent aggregations.")
        return "table"

    sleeps: list[float] = []
    assert earth_engine.compute_with_backoff(flaky, {}, sleep=sleeps.append) == "table"
    assert len(sleeps) == 2
    with pytest.raises(ee.EEException, match=r"Image\.load"):
        earth_engine.compute_with_backoff(
            lambda p: (_ for _ in ()).throw(ee.EEException("Image.load: not found")), {}, sleep=sleeps.append
        )
    always = lambda p: (_ for _ in ()).throw(ee.EEException("Quota exceeded"))  # noqa: E731
    with pytest.raises(ee.EEException, match="Quota"):
        earth_engine.compute_with_backoff(always, {}, max_attempts=3, sleep=lambda s: None)
