"""Fetch + parse one time window of each source -> a SourceBatch (rows, dead letters, facts for metadata).

No Dagster here: the assets, the CLI and a demo runner call these, then commit with
`sources.commit.commit_source_window`. `run_source_window` does both for a caller outside Dagster.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from purehealth_pipelines.sources import cpcb_nwmp, cwc, datagov, earth_engine, imd, mpcb
from purehealth_pipelines.sources.common import IST, dead_letter_frame, decode_table_bytes
from purehealth_pipelines.sources.resources import EarthEngineResource, GovSourcesResource
from purehealth_pipelines.stations.registry import load_registry


@dataclass
class SourceBatch:
    table: str
    source: str
    rows: pd.DataFrame
    dead_letters: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)


def _ist(ts: datetime) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_convert(IST)


def located_stations() -> pd.DataFrame:
    """Stations with coordinates (CWC and IoT): the points gridded and satellite sources are sampled at."""
    registry = load_registry()
    return registry[registry["latitude"].notna() & registry["longitude"].notna()].reset_index(drop=True)


def collect_cpcb_nwmp(gov: GovSourcesResource, start: datetime, end: datetime) -> SourceBatch:
    """Each NWMP year in [start, end): the CPCB table (or the OGD resource), parsed by the one NWMP parser."""
    start_ist, end_ist = _ist(start), _ist(end)
    years = list(
        range(
            start_ist.year, end_ist.year + (0 if end_ist == pd.Timestamp(end_ist.year, 1, 1, tz=IST) else 1)
        )
    )
    frames, dead = [], []
    facts: dict[str, Any] = {
        "years": years,
        "records_total": 0,
        "records_landed": 0,
        "records_rejected": 0,
        "cells_rejected": 0,
        "via": gov.nwmp_via,
        "mode": gov.mode_for("cpcb_nwmp"),
    }
    with gov.client("cpcb_nwmp") as client:
        for year in years:
            if gov.nwmp_via == "ogd":
                result = datagov.fetch_ogd_records(client, gov.ogd_resource_id(year), gov.api_key())
                text, origin = (
                    datagov.records_to_table_text(result),
                    f"data.gov.in/{gov.ogd_resource_id(year)}",
                )
                facts.setdefault("ogd", []).append(
                    {
                        "year": year,
                        "total": result.total,
                        "records": len(result.records),
                        "pages": result.pages,
                        "empty_page_retries": result.empty_page_retries,
                    }
                )
            else:
                url = gov.nwmp_table_url.format(year=year)
                text, encoding = decode_table_bytes(client.request("GET", url).content)
                origin = url
                facts.setdefault("encodings", {})[year] = encoding
            parsed = cpcb_nwmp.parse_nwmp_table(
                text, source_file=origin, states=gov.nwmp_states, years=[year]
            )
            frames.append(parsed.rows)
            dead.append(parsed.dead_letters)
            if parsed.unmapped_columns:
                facts.setdefault("unmapped_columns", {})[year] = parsed.unmapped_columns
            for key in ("records_total", "records_landed", "records_rejected", "cells_rejected"):
                facts[key] += getattr(parsed, key)
    rows = pd.concat(frames, ignore_index=True)
    dead_letters = pd.concat(dead, ignore_index=True) if dead else dead_letter_frame(cpcb_nwmp.SOURCE, [])
    # Dead letters without a known year belong to the window start (so the window's re-run replaces them).
    return SourceBatch(cpcb_nwmp.TABLE, cpcb_nwmp.SOURCE, rows, _anchor(dead_letters, start), facts)


def _anchor(dead_letters: pd.DataFrame, start: datetime) -> pd.DataFrame:
    import json

    from purehealth_pipelines.sources.common import utc_text

    if dead_letters.empty:
        return dead_letters

    def fix(details: str) -> str:
        data = json.loads(details)
        data.setdefault("partition_ts", utc_text(start))
        return json.dumps(data, ensure_ascii=False)

    out = dead_letters.copy()
    out["details"] = out["details"].map(fix)
    return out


def collect_mpcb(gov: GovSourcesResource, start: datetime, end: datetime) -> SourceBatch:
    start_ist, end_ist = _ist(start), _ist(end)
    months = pd.date_range(start_ist, end_ist - pd.Timedelta(seconds=1), freq="MS")
    fiscal_years = sorted({mpcb.financial_year_of(m) for m in months})
    frames, dead = [], []
    with gov.client("mpcb") as client:
        for fy in fiscal_years:
            url = gov.mpcb_table_url.format(fy=mpcb.financial_year_label(fy))
            text = client.request("GET", url).text
            rows, dl = mpcb.parse_mpcb_table(
                text, fy_start_year=fy, origin=url, window_start=start_ist, window_end=end_ist
            )
            frames.append(rows)
            dead.append(dl)
    rows = pd.concat(frames, ignore_index=True)
    facts = {
        "financial_years": [mpcb.financial_year_label(f) for f in fiscal_years],
        "mode": gov.mode_for("mpcb"),
        "stations": int(rows["station_id"].nunique()),
    }
    return SourceBatch(
        mpcb.TABLE, mpcb.SOURCE, rows, _anchor(pd.concat(dead, ignore_index=True), start), facts
    )


def collect_cwc(gov: GovSourcesResource, start: datetime, end: datetime) -> SourceBatch:
    start_ist, end_ist = _ist(start), _ist(end)
    registry = load_registry()
    districts = registry.loc[registry["network"] == "CWC", "district"].dropna().unique().tolist()
    with gov.client("cwc") as client:
        fetched = cwc.fetch_wris(
            client,
            districts=districts,
            start=start_ist.normalize(),
            end_inclusive=(end_ist - pd.Timedelta(seconds=1)).normalize(),
            base_url=gov.wris_base_url,
        )
    parsed = cwc.parse_wris(fetched.records, start_ist, end_ist)
    rows, dead = parsed.rows, parsed.dead_letters
    known = set(registry["station_id"])
    facts = {
        "requests": fetched.requests,
        "records": len(fetched.records),
        **parsed.facts,
        "mode": gov.mode_for("cwc"),
        "stations": int(rows["station_id"].nunique()),
        "unregistered_stations": sorted(set(rows["station_id"]) - known)[:20],
    }
    return SourceBatch(cwc.TABLE, cwc.SOURCE, rows, dead, facts)


def fetch_imd_year(gov: GovSourcesResource, client, kind: str, year: int) -> bytes:
    """One archive year's .grd (cached on disk once it decodes as a whole year).

    A download that is not a whole year raises imd.GridFormatError: a truncated file is an error, never a
    shorter year (the current year is IMD's real-time daily product, not a partial archive file).
    """
    mode = gov.mode_for("imd")
    tag = f"seed{gov.demo_seed}" if mode == "demo" else "live"
    path = gov.cache_path("imd", tag, f"{kind}_{year}.grd")
    grid = imd.PARAMETERS[kind][2]
    if path.exists():
        data = path.read_bytes()
        try:
            imd.decode_grd(data, grid, year=year)
            return data
        except imd.GridFormatError:
            path.unlink()  # a cache from an older reader or an interrupted write: fetch again
    url = gov.imd_urls[kind]
    response = client.request("POST", url, data={gov.imd_form_fields[kind]: str(year)})
    data = response.content
    try:
        imd.decode_grd(data, grid, year=year)  # validate before caching
    except imd.GridFormatError as exc:
        raise imd.GridFormatError(f"IMD {kind} {year} from {url}: {exc}") from exc
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def collect_imd(gov: GovSourcesResource, start: datetime, end: datetime) -> SourceBatch:
    start_ist, end_ist = _ist(start), _ist(end)
    stations = located_stations()
    frames = []
    facts: dict[str, Any] = {"mode": gov.mode_for("imd"), "stations": len(stations), "files": []}
    with gov.client("imd") as client:
        for year in range(start_ist.year, (end_ist - pd.Timedelta(seconds=1)).year + 1):
            for kind in ("rain", "tmax", "tmin"):
                data = fetch_imd_year(gov, client, kind, year)
                rows, file_facts = imd.station_daily_rows(data, kind, year, stations, start_ist, end_ist)
                facts["files"].append({"file": f"{kind}_{year}.grd", **file_facts})
                frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    facts["leading_float32_files"] = [f["file"] for f in facts["files"] if f["leading_float32"]]
    facts["station_days_without_valid_cell"] = sum(
        f["station_days_without_valid_cell"] for f in facts["files"]
    )
    return SourceBatch(imd.TABLE, imd.SOURCE, rows, dead_letter_frame(imd.SOURCE, []), facts)


def collect_satellite(ee_resource: EarthEngineResource, start: datetime, end: datetime) -> SourceBatch:
    stations = located_stations()
    start_text = pd.Timestamp(start).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")
    end_text = pd.Timestamp(end).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")
    table, graph = ee_resource.fetch_indices(stations, start_text, end_text)
    rows, dropped = earth_engine.indices_table_to_rows(
        table, buffer_m=ee_resource.buffer_m, min_pixels=ee_resource.min_pixels
    )
    rows = rows[(rows["ts"] >= pd.Timestamp(start)) & (rows["ts"] < pd.Timestamp(end))]
    facts = {
        "mode": ee_resource.mode,
        "scenes_station_pairs": len(table),
        "note": "no scenes in the window: zero rows (an empty week, not a failure)" if table.empty else "",
        "dropped_cloudy_or_empty": dropped,
        "platforms": sorted(rows["platform"].unique().tolist()),
        "stations": len(stations),
        "graph_sha256": hashlib.sha256(graph.encode()).hexdigest()[:16],
        "graph_bytes": len(graph),
    }
    return SourceBatch(
        earth_engine.TABLE,
        earth_engine.SOURCE,
        rows.reset_index(drop=True),
        dead_letter_frame(earth_engine.SOURCE, []),
        facts,
    )
