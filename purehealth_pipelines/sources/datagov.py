"""data.gov.in Open Government Data (OGD) API client, for CPCB tables republished there.

`GET https://api.data.gov.in/resource/{resource_id}?api-key=…&format=json&offset=…&limit=…&filters[f]=v`
returns `records[]` (values mostly strings), `field[]` (`id`, `name`, `type`), `total`/`count` (ints) and
`limit`/`offset` (strings) (water_quality.md §5). No CPCB water resource id is verified, so resource ids are
configuration. The records are turned back into the published table layout (header = the fields' names) so
the one NWMP parser handles both the CPCB pages and the OGD API.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from purehealth_pipelines.sources.http import PublisherAuthError, PublisherClient, PublisherSchemaError

OGD_BASE_URL = "https://api.data.gov.in/resource"


@dataclass
class OgdResult:
    fields: list[dict[str, str]]
    records: list[dict[str, Any]]
    total: int
    pages: int


def fetch_ogd_records(
    client: PublisherClient,
    resource_id: str,
    api_key: str,
    *,
    filters: Mapping[str, str] | None = None,
    page_size: int = 500,
    base_url: str = OGD_BASE_URL,
    max_pages: int = 1000,
) -> OgdResult:
    """Every record of a resource (offset pagination until `total` is reached or a page comes back empty)."""
    if not api_key:
        raise PublisherAuthError("data.gov.in needs an API key (set PUREHEALTH_DATAGOV_API_KEY)")
    url = f"{base_url.rstrip('/')}/{resource_id}"
    records: list[dict[str, Any]] = []
    fields: list[dict[str, str]] = []
    total: int | None = None
    offset = 0
    pages = 0
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
        if not page:
            break
        records.extend(page)
        offset += len(page)
        if offset >= total:
            break
    return OgdResult(fields=fields, records=records, total=total or 0, pages=pages)


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
    ids = [f["id"] for f in result.fields]
    names = [f.get("name") or f["id"] for f in result.fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for record in result.records:
        writer.writerow(["" if record.get(i) is None else str(record.get(i)) for i in ids])
    return buffer.getvalue()
