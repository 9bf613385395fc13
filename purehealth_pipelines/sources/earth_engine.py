"""Earth Engine: water-quality indices over a buffer around each station, fetched as one table per request.

Collections and formulas (docs/water_quality.md §5): Sentinel-2 `COPERNICUS/S2_SR_HARMONIZED` (reflectance =
DN × 0.0001), Landsat `LANDSAT/LC08|LC09/C02/T1_L2` (SR = DN × 2.75e-5 − 0.2). NDWI (G−NIR)/(G+NIR) (McFeeters
1996), MNDWI (G−SWIR1)/(G+SWIR1) (Xu 2006), NDTI (R−G)/(R+G) (Lacaux 2007), NDCI (B5−B4)/(B5+B4) (Mishra &
Mishra 2012, Sentinel-2 only) and chl-a = 14.039 + 86.115·NDCI + 194.325·NDCI² (same paper; needs local
calibration). Cloud masks: S2 SCL drops classes 0,1,3,8,9,10,11; Landsat QA_PIXEL bits 0–4 = 0 and
QA_RADSAT = 0. Reductions use an explicit `scale`, a water mask (MNDWI > 0) and keep the pixel count.

The whole station set × scenes is one FeatureCollection computed server-side and fetched with
`ee.data.computeFeatures(..., fileFormat=PANDAS_DATAFRAME)`: no per-pixel or per-station loops client-side.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import ee
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
TABLE = "raw.satellite_indices"
SOURCE = "satellite"
INDEX_UNITS = {"ndwi": "1", "mndwi": "1", "ndti": "1", "ndci": "1", "chl_a_mg_m3": "mg/m³"}
S2_SCL_DROP = (0, 1, 3, 8, 9, 10, 11)  # no data, saturated, cloud shadow, cloud medium/high, cirrus, snow
QUOTA_MARKERS = (
    "too many concurrent aggregations",
    "quota",
    "rate limit",
    "429",
    "resource exhausted",
    "computation timed out",
    "user memory limit",
)

_init_lock = threading.Lock()
_initialized: str | None = None  # 'live' or 'offline': ee.Initialize once per process


def initialize_offline() -> None:
    """Initialise earthengine-api without network, from the algorithm catalogue the package ships for its
    own tests (docs/stack_notes.md). Graphs can then be built and serialised; compute calls must be faked.
    Relies on earthengine-api internals: pinned at 1.7."""
    global _initialized
    with _init_lock:
        if _initialized == "offline":
            return
        import ee.apitestcase

        ee.Reset()
        ee.data._install_cloud_api_resource = lambda: None
        ee.data.getAlgorithms = ee.apitestcase.GetAlgorithms
        ee.Initialize(None, "", project="offline-test")
        _initialized = "offline"


def initialize_live(project: str, service_account_key_json: str | None) -> None:
    """ee.Initialize once per process: a service-account key (JSON) or application default credentials."""
    global _initialized
    with _init_lock:
        if _initialized == "live":
            return
        if service_account_key_json:
            key = json.loads(service_account_key_json)
            credentials = ee.ServiceAccountCredentials(
                email=key.get("client_email"), key_data=service_account_key_json
            )
        else:
            credentials = None  # application default credentials (gcloud auth application-default login)
        ee.Initialize(credentials, project=project)
        _initialized = "live"


def is_quota_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ee.EEException) and any(marker in text for marker in QUOTA_MARKERS)


def compute_with_backoff(
    compute: Callable[[dict[str, Any]], Any],
    params: dict[str, Any],
    *,
    max_attempts: int = 6,
    base_seconds: float = 2.0,
    cap_seconds: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Any:
    """Call an EE compute function; back off (exponential, full jitter) on quota/concurrency errors only."""
    rng = rng or random.Random()
    for attempt in range(max_attempts):
        try:
            return compute(params)
        except ee.EEException as exc:
            if not is_quota_error(exc) or attempt + 1 == max_attempts:
                raise
            delay = rng.uniform(0, min(cap_seconds, base_seconds * 2**attempt))
            log.warning(
                "Earth Engine quota/concurrency error (%s); retry %d in %.1fs", exc, attempt + 1, delay
            )
            sleep(delay)
    raise AssertionError("unreachable")


# --- The graph ----------------------------------------------------------------------------------------------


def _s2_indices(image: ee.Image) -> ee.Image:
    scl = image.select("SCL")
    clear = scl.neq(S2_SCL_DROP[0])
    for klass in S2_SCL_DROP[1:]:
        clear = clear.And(scl.neq(klass))
    sr = image.select(["B3", "B4", "B5", "B8", "B11"]).multiply(0.0001)
    ndwi = sr.normalizedDifference(["B3", "B8"]).rename("ndwi")
    mndwi = sr.normalizedDifference(["B3", "B11"]).rename("mndwi")
    ndti = sr.normalizedDifference(["B4", "B3"]).rename("ndti")
    ndci = sr.normalizedDifference(["B5", "B4"]).rename("ndci")
    water = mndwi.gt(0)
    return ee.Image.cat([ndwi, mndwi, ndti, ndci]).updateMask(clear.And(water))


def _landsat_indices(image: ee.Image) -> ee.Image:
    qa = image.select("QA_PIXEL")
    clear = (
        qa.bitwiseAnd(0b11111).eq(0).And(image.select("QA_RADSAT").eq(0))
    )  # fill, dilated, cirrus, cloud, shadow
    sr = image.select(["SR_B3", "SR_B4", "SR_B5", "SR_B6"]).multiply(2.75e-05).add(-0.2)
    ndwi = sr.normalizedDifference(["SR_B3", "SR_B5"]).rename("ndwi")
    mndwi = sr.normalizedDifference(["SR_B3", "SR_B6"]).rename("mndwi")
    ndti = sr.normalizedDifference(["SR_B4", "SR_B3"]).rename("ndti")
    water = mndwi.gt(0)
    return ee.Image.cat([ndwi, mndwi, ndti]).updateMask(clear.And(water))


PLATFORMS = {
    "sentinel2": ("COPERNICUS/S2_SR_HARMONIZED", _s2_indices, 10),
    "landsat8": ("LANDSAT/LC08/C02/T1_L2", _landsat_indices, 30),
    "landsat9": ("LANDSAT/LC09/C02/T1_L2", _landsat_indices, 30),
}


def build_indices_collection(
    stations: pd.DataFrame,
    start: str,
    end: str,
    *,
    buffer_m: int = 60,
    platforms: tuple[str, ...] = tuple(PLATFORMS),
) -> ee.FeatureCollection:
    """One FeatureCollection: a feature per (scene, station): mean indices, clear-water pixel count."""
    points = ee.FeatureCollection(
        [
            ee.Feature(
                ee.Geometry.Point([float(s.longitude), float(s.latitude)]).buffer(buffer_m),
                {"station_id": s.station_id},
            )
            for s in stations.itertuples()
        ]
    )
    reducer = ee.Reducer.mean().combine(ee.Reducer.count(), sharedInputs=True)
    merged = None
    for platform in platforms:
        collection_id, indices, scale = PLATFORMS[platform]
        scenes = ee.ImageCollection(collection_id).filterDate(start, end).filterBounds(points.geometry())

        def per_scene(
            image: ee.Image, indices=indices, scale=scale, platform=platform
        ) -> ee.FeatureCollection:
            reduced = indices(image).reduceRegions(collection=points, reducer=reducer, scale=scale)
            return reduced.map(
                lambda f: f.set(
                    {
                        "scene_id": image.get("system:index"),
                        "platform": platform,
                        "time_start": image.get("system:time_start"),
                    }
                )
            )

        per_platform = scenes.map(per_scene).flatten()
        merged = per_platform if merged is None else merged.merge(per_platform)
    return merged.select(
        [
            "station_id",
            "scene_id",
            "platform",
            "time_start",
            "ndwi_mean",
            "mndwi_mean",
            "ndti_mean",
            "ndci_mean",
            "ndwi_count",
        ],
        retainGeometry=False,
    )


# --- The table -> raw rows ---------------------------------------------------------------------------


def chlorophyll_a_from_ndci(ndci: pd.Series) -> pd.Series:
    """Mishra & Mishra (2012), Remote Sens. Environ. 117: chl-a = 14.039 + 86.115·NDCI + 194.325·NDCI²."""
    return 14.039 + 86.115 * ndci + 194.325 * ndci**2


def indices_table_to_rows(
    table: pd.DataFrame, *, buffer_m: int, min_pixels: int = 1
) -> tuple[pd.DataFrame, int]:
    """computeFeatures' table -> raw.satellite_indices rows; returns (rows, scenes dropped as cloudy/empty).

    A (scene, station) whose clear-water pixel count is below `min_pixels` (fully clouded or no water in the
    buffer) is dropped; thin-but-nonzero reductions are kept with their pixel_count for QC to judge.
    """
    expected = {"station_id", "scene_id", "platform", "time_start", "ndwi_mean", "ndwi_count"}
    if table.empty and (len(table.columns) == 0 or not (set(table.columns) - expected)):
        # A window with no scenes: the real PANDAS_DATAFRAME converter returns a frame with no columns at
        # all (nothing to infer them from). That is an empty week, not a schema change.
        return _empty_rows(), 0
    missing = expected - set(table.columns)
    if missing:
        from purehealth_pipelines.sources.http import PublisherSchemaError

        raise PublisherSchemaError(f"Earth Engine table lacks columns {sorted(missing)}")
    frame = table.copy()
    frame["pixel_count"] = pd.to_numeric(frame["ndwi_count"], errors="coerce").fillna(0).astype("int64")
    usable = (frame["pixel_count"] >= min_pixels) & pd.to_numeric(frame["ndwi_mean"], errors="coerce").notna()
    dropped = int((~usable).sum())
    frame = frame[usable]
    for name in ("ndwi", "mndwi", "ndti", "ndci"):
        column = f"{name}_mean"
        frame[name] = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
    frame["chl_a_mg_m3"] = chlorophyll_a_from_ndci(frame["ndci"])
    frame["ts"] = pd.to_datetime(pd.to_numeric(frame["time_start"]), unit="ms", utc=True)
    long = frame.melt(
        id_vars=["station_id", "ts", "platform", "scene_id", "pixel_count"],
        value_vars=list(INDEX_UNITS),
        var_name="parameter",
        value_name="value",
    ).dropna(subset=["value"])
    long["unit"] = long["parameter"].map(INDEX_UNITS)
    long["buffer_m"] = buffer_m
    long["value"] = long["value"].astype("float64").round(5)
    # Two tiles of the same overpass can cover one buffer: keep the one with more clear pixels.
    long = long.sort_values("pixel_count", ascending=False).drop_duplicates(
        ["station_id", "parameter", "ts", "platform"]
    )
    columns = [
        "station_id",
        "parameter",
        "ts",
        "value",
        "unit",
        "platform",
        "scene_id",
        "pixel_count",
        "buffer_m",
    ]
    return long[columns].sort_values(["station_id", "ts", "parameter"]).reset_index(drop=True), dropped


ROW_COLUMNS = {
    "station_id": "str",
    "parameter": "str",
    "ts": "datetime64[ms, UTC]",
    "value": "float64",
    "unit": "str",
    "platform": "str",
    "scene_id": "str",
    "pixel_count": "int64",
    "buffer_m": "int64",
}


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in ROW_COLUMNS.items()})
