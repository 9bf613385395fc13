"""data.gov.in Open Government Data (OGD) API client, for CPCB tables republished there.

`GET https://api.data.gov.in/resource/{resource_id}?api-key=…&format=json&offset=…&limit=…&filters[f]=v`
returns `records[]`, `field[]` (`id`, `name`, `type`), `total`/`count` (numbers) and `limit`/`offset`
(strings). Checked against a real response (shared/data/datagov/ogd_response_page0.json): every record value
is a string (numbers too), field ids keep leading and trailing underscores (`_month_`,
`quantity_000_metric_tonnes_`) and are the record keys as they are, and a page holds at most 10 records
whatever `limit` asks for. No CPCB water resource id is verified, so resource ids are configuration. The
records are turned back into the published table layout (header = the fields' names) so the one NWMP parser
handles both the CPCB pages and the OGD API.

A page that comes back empty before `offset` reaches `total` is the API failing, not the end of the data
(seen: a pull ending silently at 10 of 1,392 records). It is retried, then the pull fails with
`OgdIncompleteError`: a partition never lands part of a year.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from purehealth_pipelines.sources.http import (
    PublisherAuthError,
    PublisherClient,
    PublisherError,
    PublisherSchemaError,
)

OGD_BASE_URL = "https://api.data.gov.in/resource"
OGD_PAGE_CAP = 10  # the API's own cap on records per page, whatever `limit` says


class OgdIncompleteError(PublisherError):
    """The API stopped returning records before `total` was reached (after retries)."""


@dataclass
class OgdResult:
    fields: list[dict[str, str]]
    records: list[dict[str, Any]]
    total: int
    pages: int
    empty_page_retries: int = 0  # empty pages retried before the API answered again


def fetch_ogd_records(
    client: PublisherClient,
    resource_id: str,
    api_key: str,
    *,
    filters: Mapping[str, str] | None = None,
    page_size: int = OGD_PAGE_CAP,
    base_url: str = OGD_BASE_URL,
    max_pages: int = 5000,
    empty_page_retries: int = 3,
) -> OgdResult:
    """Every record of a resource: offset pagination (advancing by the records actually returned) until
    `total` is reached. An empty page before that is retried with backoff, then raises OgdIncompleteError."""
    if not api_key:
        raise PublisherAuthError("data.gov.in needs an API key (set PUREHEALTH_DATAGOV_API_KEY)")
    url = f"{base_url.rstrip('/')}/{resource_id}"
    records: list[dict[str, Any]] = []
    fields: list[dict[str, str]] = []
    total: int | None = None
    offset = 0
    pages = 0
    empty_retries = 0
    empty_in_a_row = 0
    while pages < max_pages:
        params: dict[str, Any] = {"api-key": api_key, "format": "json", "offset": offset, "limit": page_size}
        for name, value in (filters or {}).items():
            params[f"filters[{name}]"] = value
        body = client.get_json(url, params=params)
        pages += 1
        _check_body(body, url)
        page = body["records"]
        if not fields:
            fields = [dict(f) for f in body.get("field") or []]
        if total is None:
            total = _as_int(body.get("total"), "total", url)
        if offset >= total:
            break
        if not page:
            if empty_in_a_row >= empty_page_retries:
                raise OgdIncompleteError(
                    f"{url}: data.gov.in returned an empty page at offset {offset} of total {total} "
                    f"({empty_in_a_row + 1} tries): refusing a partial pull of {offset} of {total} records"
                )
            client.sleep(client.retry.delay(empty_in_a_row, client.rng))
            empty_in_a_row += 1
            empty_retries += 1
            continue
        empty_in_a_row = 0
        records.extend(page)
        offset += len(page)
        if offset >= total:
            break
    else:
        raise OgdIncompleteError(f"{url}: stopped after {max_pages} pages at {offset} of {total} records")
    return OgdResult(
        fields=fields, records=records, total=total or 0, pages=pages, empty_page_retries=empty_retries
    )


def _check_body(body: Any, url: str) -> None:
    if not isinstance(body, dict):
        raise PublisherSchemaError(f"{url}: expected a JSON object, got {type(body).__name__}")
    status = str(body.get("status", "ok")).lower()
    message = str(body.get("message", ""))
    if status == "error":
        if "key" in message.lower():
            raise PublisherAuthError(f"{url}: data.gov.in rejected the API key: {message}")
        raise PublisherSchemaError(f"{url}: data.gov.in error: {message}")
    if not isinstance(body.get("records"), list):
        raise PublisherSchemaError(f"{url}: response has no 'records' list (keys: {sorted(body)[:10]})")


def _as_int(value: Any, name: str, url: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PublisherSchemaError(f"{url}: '{name}' is not an integer: {value!r}") from exc


def records_to_table_text(result: OgdResult) -> str:
    """OGD records -> the CSV table they were published from (header = field names, in field order)."""
    if not result.fields:
        raise PublisherSchemaError("data.gov.in response has no 'field' list: cannot name the columns")
    ids = [f["id"] for f in result.fields]  # as published: '_month_' is the key, not 'month'
    names = [(f.get("name") or f["id"]).strip() for f in result.fields]
    if result.records:
        keys = {k for record in result.records for k in record}
        unknown = sorted(keys - set(ids))
        if unknown:
            raise PublisherSchemaError(
                f"data.gov.in records carry keys that no field declares: {unknown[:10]} (fields: {ids[:10]})"
            )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for record in result.records:
        writer.writerow(["" if record.get(i) is None else str(record.get(i)) for i in ids])
    return buffer.getvalue()
