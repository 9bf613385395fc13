"""Dagster resources of the sources domain: the government publishers and Earth Engine, each `live` or `demo`.

`demo` (the default) plugs the offline publishers in at the I/O boundary (an httpx.MockTransport, a fake EE
compute call), so the same clients and parsers run in both modes. `live` talks to the real endpoints; its
credentials come from environment variables through dg.EnvVar (see sources.definitions).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from purehealth_pipelines.sources import earth_engine
from purehealth_pipelines.sources.http import PublisherClient, RetryPolicy

MODES = ("demo", "live")


class GovSourcesResource(dg.ConfigurableResource):
    """Government publishers (CPCB, data.gov.in, MPCB, India-WRIS, IMD): endpoints, keys, HTTP policy."""

    mode: str = Field(default="demo", description="'demo' (offline generated publishers) or 'live'")
    source_modes: dict[str, str] = Field(
        default_factory=dict, description="per-source override, e.g. {'imd': 'live'}"
    )
    demo_seed: int = 42
    datagov_api_key: str | None = Field(
        default=None, description="data.gov.in key (EnvVar PUREHEALTH_DATAGOV_API_KEY)"
    )
    nwmp_via: str = Field(default="table", description="'table' (CPCB yearly CSV) or 'ogd' (data.gov.in API)")
    nwmp_table_url: str = "https://cpcb.nic.in/nwmp-data-{year}/nwmp_river_{year}.csv"
    nwmp_ogd_resource_ids: dict[str, str] = Field(
        default_factory=dict,
        description="year -> data.gov.in resource id (no verified id exists: configure it)",
    )
    nwmp_states: list[str] = Field(default_factory=lambda: ["MAHARASHTRA"])
    mpcb_table_url: str = "https://www.mpcb.gov.in/sites/default/files/water-quality/mpcb_river_{fy}.csv"
    wris_base_url: str = "https://indiawris.gov.in/Dataset"
    imd_urls: dict[str, str] = Field(
        default_factory=lambda: {
            # The .grd rain archive's form; RF25.php serves IMD's NetCDF product instead.
            "rain": "https://www.imdpune.gov.in/cmpg/Griddata/rainfall.php",
            "tmax": "https://www.imdpune.gov.in/cmpg/Griddata/maxtemp.php",
            "tmin": "https://www.imdpune.gov.in/cmpg/Griddata/mintemp.php",
        }
    )
    imd_form_fields: dict[str, str] = Field(
        default_factory=lambda: {"rain": "rain", "tmax": "maxtemp", "tmin": "mintemp"}
    )
    cache_dir: str = Field(
        default_factory=lambda: str(Path(tempfile.gettempdir()) / "purehealth-sources-cache")
    )
    timeout_seconds: float = 60.0
    max_attempts: int = 5
    rate_limit_per_host: float = 2.0

    def mode_for(self, source: str) -> str:
        mode = self.source_modes.get(source, self.mode)
        if mode not in MODES:
            raise ValueError(f"source mode must be one of {MODES}, got {mode!r} for {source}")
        return mode

    def client(self, source: str) -> PublisherClient:
        transport = None
        if self.mode_for(source) == "demo":
            from purehealth_pipelines.demo.publishers import demo_transport

            transport = demo_transport(self.demo_seed)
        return PublisherClient(
            transport=transport,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(max_attempts=self.max_attempts),
            rate_limit_per_host=0.0 if transport is not None else self.rate_limit_per_host,
        )

    def api_key(self) -> str:
        if self.mode_for("cpcb_nwmp") == "demo":
            return self.datagov_api_key or "demo-key"
        return self.datagov_api_key or ""

    def ogd_resource_id(self, year: int) -> str:
        if str(year) in self.nwmp_ogd_resource_ids:
            return self.nwmp_ogd_resource_ids[str(year)]
        if self.mode_for("cpcb_nwmp") == "demo":
            return f"demo-nwmp-{year}"
        raise ValueError(f"no data.gov.in resource id configured for NWMP {year} (nwmp_ogd_resource_ids)")

    def cache_path(self, *parts: str) -> Path:
        path = Path(self.cache_dir).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class EarthEngineResource(dg.ConfigurableResource):
    """Earth Engine, initialised once per process (service account JSON key or application default creds)."""

    mode: str = Field(default="demo", description="'demo' (offline graph, fake compute) or 'live'")
    project: str | None = Field(default=None, description="Google Cloud project registered for Earth Engine")
    service_account_key_json: str | None = Field(
        default=None, description="service-account key JSON (EnvVar PUREHEALTH_EE_SERVICE_ACCOUNT_KEY)"
    )
    demo_seed: int = 42
    buffer_m: int = 60
    min_pixels: int = 1
    _ready: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.ensure_initialized()

    def ensure_initialized(self) -> None:
        if self._ready:
            return
        if self.mode == "live":
            if not self.project:
                raise ValueError("Earth Engine live mode needs `project` (PUREHEALTH_EE_PROJECT)")
            earth_engine.initialize_live(self.project, self.service_account_key_json)
        else:
            earth_engine.initialize_offline()
        self._ready = True

    def fetch_indices(self, stations: pd.DataFrame, start: str, end: str) -> tuple[pd.DataFrame, str]:
        """Build the real graph, serialise it, compute it as a table (faked in demo) -> (table, graph)."""
        self.ensure_initialized()
        collection = earth_engine.build_indices_collection(stations, start, end, buffer_m=self.buffer_m)
        graph = collection.serialize()
        params: dict[str, Any] = {"expression": collection, "fileFormat": "PANDAS_DATAFRAME"}
        if self.mode == "live":
            import ee

            compute = ee.data.computeFeatures
        else:
            from purehealth_pipelines.demo.earth_engine import demo_compute_features

            compute = demo_compute_features(stations, start, end, self.demo_seed)
        table = earth_engine.compute_with_backoff(compute, params)
        return pd.DataFrame(table), graph


def env_mode() -> str:
    return os.environ.get("PUREHEALTH_SOURCES_MODE", "demo")
