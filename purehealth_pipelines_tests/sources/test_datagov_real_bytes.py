"""data.gov.in OGD: the client on a real API response (../shared/data/datagov) and the demo publisher speaking
the same dialect (10-record pages, string values, underscored field ids)."""

from __future__ import annotations

import json

import httpx
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.demo.publishers import demo_transport, nwmp_table_csv, ogd_page
from purehealth_pipelines.sources import datagov
from purehealth_pipelines.sources.cpcb_nwmp import parse_nwmp_table
from purehealth_pipelines.sources.http import PublisherClient, RetryPolicy

REAL_PAGE = settings.shared_data_dir() / "datagov" / "ogd_response_page0.json"
needs_real = pytest.mark.skipif(
    not REAL_PAGE.exists(), reason=f"the real data.gov.in response is not present at {REAL_PAGE}"
)


def _client(transport: httpx.BaseTransport) -> PublisherClient:
    return PublisherClient(
        transport=transport, retry=RetryPolicy(max_attempts=2), sleep=lambda s: None, rate_limit_per_host=0
    )


@needs_real
def test_real_response_empty_second_page_fails_instead_of_landing_10_of_1392() -> None:
    body = json.loads(REAL_PAGE.read_text(encoding="utf-8"))
    assert (body["total"], body["count"], body["limit"], body["offset"]) == (1392, 10, "10", "0")

    def handler(request: httpx.Request) -> httpx.Response:
        if int(request.url.params["offset"]) == 0:
            return httpx.Response(200, json=body)
        return httpx.Response(
            200, json={**body, "count": 0, "offset": request.url.params["offset"], "records": []}
        )

    with pytest.raises(datagov.OgdIncompleteError, match="10 of 1392"):
        datagov.fetch_ogd_records(_client(httpx.MockTransport(handler)), "res", "key", page_size=100)


@needs_real
def test_real_response_fields_keep_their_underscores_and_values_stay_strings() -> None:
    body = json.loads(REAL_PAGE.read_text(encoding="utf-8"))
    result = datagov.OgdResult(fields=body["field"], records=body["records"], total=body["total"], pages=1)
    lines = datagov.records_to_table_text(result).splitlines()
    assert lines[0] == "Month,Year,OIL COMPANIES,Quantity (000 Metric Tonnes)"
    first = body["records"][0]
    assert lines[1].split(",")[0] == first["_month_"] and first["_month_"]  # read through the '_month_' key
    assert lines[1].endswith(first["quantity_000_metric_tonnes_"])
    renamed = dict(result.records[0])
    renamed["month"] = renamed.pop("_month_")  # a client that strips the underscores would lose the column
    with pytest.raises(datagov.PublisherSchemaError, match="no field declares"):
        datagov.records_to_table_text(
            datagov.OgdResult(fields=body["field"], records=[renamed], total=1, pages=1)
        )


@needs_real
def test_demo_ogd_page_has_the_real_responses_shape() -> None:
    real = json.loads(REAL_PAGE.read_text(encoding="utf-8"))
    demo = ogd_page(2022, seed=5, offset=0, limit=500)
    for key in ("total", "count"):
        assert type(demo[key]) is type(real[key]) is int
    for key in ("limit", "offset"):
        assert type(demo[key]) is type(real[key]) is str
    assert len(demo["records"]) == 10 == len(real["records"])  # the 10-record cap, whatever limit says
    assert all(isinstance(v, str) for r in demo["records"] for v in r.values())
    assert all(isinstance(v, str) for r in real["records"] for v in r.values())
    ids = [f["id"] for f in demo["field"]]
    assert any(i.startswith("_") for i in ids) and any(i.endswith("_") for i in ids)
    assert {tuple(sorted(f)) for f in demo["field"]} == {tuple(sorted(f)) for f in real["field"]}


def test_demo_ogd_pull_through_the_real_client_equals_the_csv_table() -> None:
    client = _client(demo_transport(seed=5))
    result = datagov.fetch_ogd_records(client, "demo-nwmp-2022", "demo-key", page_size=500)
    assert result.pages == -(-result.total // 10) and len(result.records) == result.total
    via_api = parse_nwmp_table(datagov.records_to_table_text(result), source_file="ogd", years=[2022])
    via_csv = parse_nwmp_table(nwmp_table_csv(2022, seed=5), source_file="ogd", years=[2022])
    assert via_api.records_landed == via_csv.records_landed > 100
    key = ["station_id", "parameter", "statistic"]
    api_rows = via_api.rows.sort_values(key).reset_index(drop=True)
    csv_rows = via_csv.rows.sort_values(key).reset_index(drop=True)
    assert api_rows[[*key, "value", "censored"]].equals(csv_rows[[*key, "value", "censored"]])
