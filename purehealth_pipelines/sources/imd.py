"""IMD gridded daily rainfall (0.25°) and temperature (1°) -> per-station daily values.

IMD's APIs need IP whitelisting, so we use the gridded archive (imdpune.gov.in, the files `imdlib` reads):
headerless little-endian float32, one C-order (lat, lon) block per day, missing = −999 (water_quality.md §5).
- Rain: 0.25°, 129 lat × 135 lon, lat 6.5–38.5, lon 66.5–100.0; a full year is 25,425,900 bytes (365 days).
- Tmax/Tmin: 1°, 31 × 31, lat 7.5–37.5, lon 67.5–97.5.
The current year's file is the provisional real-time product and holds only the days published so far, so
the day count comes from the file size.

Station values use **bilinear interpolation** over the four surrounding cell centres, renormalising the
weights over the cells that are not missing (near the coast some are sea = −999); `grid_cells` records how
many were used. A station with no valid neighbour gets no row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from purehealth_pipelines.sources.common import IST, ist_midnight

MISSING = -999.0
TABLE = "raw.imd_rainfall"
SOURCE = "imd"


@dataclass(frozen=True)
class GridSpec:
    """A regular lat/lon grid: cell centres at lat0 + i·step, lon0 + j·step."""

    lat0: float
    lon0: float
    step: float
    nlat: int
    nlon: int

    @property
    def day_bytes(self) -> int:
        return self.nlat * self.nlon * 4


RAIN_GRID = GridSpec(lat0=6.5, lon0=66.5, step=0.25, nlat=129, nlon=135)
TEMP_GRID = GridSpec(lat0=7.5, lon0=67.5, step=1.0, nlat=31, nlon=31)
PARAMETERS = {
    "rain": ("rainfall_mm", "mm", RAIN_GRID),
    "tmax": ("tmax_c", "°C", TEMP_GRID),
    "tmin": ("tmin_c", "°C", TEMP_GRID),
}


class GridFormatError(ValueError):
    """The file is not a whole number of daily grids of the expected size."""


def read_grd(data: bytes | memoryview, grid: GridSpec) -> np.ndarray:
    """Bytes of a .grd file -> (days, nlat, nlon) float32 array with NaN for missing (−999)."""
    size = len(data)
    if size == 0 or size % grid.day_bytes:
        raise GridFormatError(
            f"{size} bytes is not a whole number of {grid.nlat}×{grid.nlon} float32 days "
            f"({grid.day_bytes} bytes each)"
        )
    array = np.frombuffer(data, dtype="<f4").reshape(-1, grid.nlat, grid.nlon).copy()
    array[array <= MISSING + 0.5] = np.nan
    return array


def bilinear_weights(grid: GridSpec, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each station: flat indices of its 4 surrounding cells and their bilinear weights (n, 4)."""
    fi = (np.asarray(lats, dtype=float) - grid.lat0) / grid.step
    fj = (np.asarray(lons, dtype=float) - grid.lon0) / grid.step
    i0 = np.clip(np.floor(fi).astype(int), 0, grid.nlat - 2)
    j0 = np.clip(np.floor(fj).astype(int), 0, grid.nlon - 2)
    di, dj = np.clip(fi - i0, 0, 1), np.clip(fj - j0, 0, 1)
    index = np.stack(
        [
            i0 * grid.nlon + j0,
            i0 * grid.nlon + j0 + 1,
            (i0 + 1) * grid.nlon + j0,
            (i0 + 1) * grid.nlon + j0 + 1,
        ],
        axis=1,
    )
    weights = np.stack([(1 - di) * (1 - dj), (1 - di) * dj, di * (1 - dj), di * dj], axis=1)
    outside = (fi < 0) | (fi > grid.nlat - 1) | (fj < 0) | (fj > grid.nlon - 1)
    weights[outside] = 0.0
    return index, weights


def interpolate_to_stations(
    days: np.ndarray, grid: GridSpec, lats: np.ndarray, lons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(days, nlat, nlon) -> values (days, n_stations) and valid-cell counts (days, n_stations).

    Vectorised over days and stations (no Python loop per pixel or per day).
    """
    index, weights = bilinear_weights(grid, lats, lons)
    flat = days.reshape(days.shape[0], -1)
    cells = flat[:, index]  # (days, n, 4)
    valid = ~np.isnan(cells) & (weights[None] > 0)
    w = np.where(valid, weights[None], 0.0)
    total = w.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(total > 0, (np.nan_to_num(cells) * w).sum(axis=2) / total, np.nan)
    return values, valid.sum(axis=2)


def station_daily_frame(
    data: bytes,
    kind: str,
    year: int,
    stations: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    *,
    provisional: bool,
) -> pd.DataFrame:
    """One year's .grd for 'rain' / 'tmax' / 'tmin' -> raw.imd_rainfall rows for the days inside the window.

    `stations` needs station_id, latitude, longitude. ts = the IMD day at 00:00 IST.
    """
    parameter, unit, grid = PARAMETERS[kind]
    grids = read_grd(data, grid)
    first_day = ist_midnight(year)
    day_ts = pd.date_range(first_day, periods=grids.shape[0], freq="D", tz=IST)
    keep = (day_ts >= window_start) & (day_ts < window_end)
    if not keep.any():
        return _empty()
    values, counts = interpolate_to_stations(
        grids[keep], grid, stations["latitude"].to_numpy(), stations["longitude"].to_numpy()
    )
    n_days, n_stations = values.shape
    frame = pd.DataFrame(
        {
            "station_id": np.tile(stations["station_id"].to_numpy(), n_days),
            "parameter": parameter,
            "ts": np.repeat(day_ts[keep].tz_convert("UTC").to_numpy(), n_stations),
            "value": np.round(values.reshape(-1), 2),
            "unit": unit,
            "method": "bilinear",
            "grid_cells": counts.reshape(-1).astype("int16"),
            "provisional": provisional,
        }
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame[frame["value"].notna()].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": pd.Series(dtype="str"),
            "parameter": pd.Series(dtype="str"),
            "ts": pd.Series(dtype="datetime64[us, UTC]"),
            "value": pd.Series(dtype="float64"),
            "unit": pd.Series(dtype="str"),
            "method": pd.Series(dtype="str"),
            "grid_cells": pd.Series(dtype="int16"),
            "provisional": pd.Series(dtype="bool"),
        }
    )
