"""Demo IMD gridded files in the exact .grd layout.

Headerless little-endian float32, one C-order (lat, lon) block per day.

Rain: 0.25°, 129 × 135 cells (lat 6.5–38.5, lon 66.5–100.0); temperature: 1°, 31 × 31 (lat 7.5–37.5, lon
67.5–97.5). Missing over the sea is what IMD's real files hold: −999.0 in rain, 99.9 in temperature
(seen in IMD's 2019 tmax/tmin archive), so demo mode exercises the reader's per-product missing value.
Fields are smooth (coarse noise, bilinearly upsampled) with the monsoon's seasonal cycle, so neighbouring
stations see related rain.
"""

from __future__ import annotations

import numpy as np

from purehealth_pipelines.demo.profiles import monsoon_rain_mm_per_day, stable_rng
from purehealth_pipelines.sources.imd import RAIN_GRID, RAIN_MISSING, TEMP_GRID, TEMP_MISSING, GridSpec


def _upsample_matrix(n_fine: int, n_coarse: int) -> np.ndarray:
    """Linear-interpolation weights (n_fine × n_coarse) mapping a coarse axis onto a fine one."""
    positions = np.linspace(0, n_coarse - 1, n_fine)
    low = np.floor(positions).astype(int).clip(0, n_coarse - 2)
    frac = positions - low
    weights = np.zeros((n_fine, n_coarse))
    weights[np.arange(n_fine), low] = 1 - frac
    weights[np.arange(n_fine), low + 1] = frac
    return weights


def _sea_mask(grid: GridSpec) -> np.ndarray:
    """A coarse 'sea' mask: west of the Konkan coast and south of the peninsula (enough for the demo)."""
    lats = grid.lat0 + grid.step * np.arange(grid.nlat)
    lons = grid.lon0 + grid.step * np.arange(grid.nlon)
    lat, lon = np.meshgrid(lats, lons, indexing="ij")
    west_coast = 72.75 + (lat - 19.0) * -0.18  # the coast runs NNW: ~72.8 at Mumbai, ~73.4 at Goa
    return (lon < west_coast) & (lat < 23.0) | (lat < 8.0)


def rain_year(year: int, seed: int) -> np.ndarray:
    """(days, 129, 135) float32 rain in mm with −999 over the sea."""
    grid = RAIN_GRID
    days = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
    rng = stable_rng(seed, "imd-rain", year)
    coarse = rng.gamma(shape=0.6, scale=1.0, size=(days, 9, 10))
    wet = rng.random((days, 9, 10)) < 0.55
    field = _upsample_matrix(grid.nlat, 9) @ (coarse * wet) @ _upsample_matrix(grid.nlon, 10).T
    climatology = np.array([monsoon_rain_mm_per_day(d + 1) for d in range(days)])
    rain = (field * climatology[:, None, None] * 1.8).astype(np.float32)
    rain[rain < 0.05] = 0.0
    rain[:, _sea_mask(grid)] = np.float32(RAIN_MISSING)
    return rain


def temperature_year(year: int, seed: int, kind: str) -> np.ndarray:
    """(days, 31, 31) float32 daily tmax or tmin (°C), 99.9 over the sea (IMD's temperature missing value);
    hottest in May, mildest in Jan."""
    grid = TEMP_GRID
    days = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
    rng = stable_rng(seed, "imd-temp", kind, year)
    doy = np.arange(1, days + 1)
    seasonal = (
        31.0 + 7.0 * np.sin(2 * np.pi * (doy - 60) / 365.25) - 3.0 * np.exp(-(((doy - 200) / 40.0) ** 2))
    )
    if kind == "tmin":
        seasonal = seasonal - 12.0 + 5.0 * np.exp(-(((doy - 200) / 50.0) ** 2))
    lats = grid.lat0 + grid.step * np.arange(grid.nlat)
    latitude_effect = -0.25 * (lats - 20.0)
    values = (
        seasonal[:, None, None]
        + latitude_effect[None, :, None]
        + rng.normal(0, 1.0, (days, grid.nlat, grid.nlon))
    )
    values = values.astype(np.float32)
    values[:, _sea_mask(grid)] = np.float32(TEMP_MISSING)
    return values


def grd_bytes(year: int, seed: int, kind: str) -> bytes:
    """The bytes of IMD's `<year>.grd` for 'rain', 'tmax' or 'tmin'."""
    array = rain_year(year, seed) if kind == "rain" else temperature_year(year, seed, kind)
    return array.astype("<f4").tobytes(order="C")
