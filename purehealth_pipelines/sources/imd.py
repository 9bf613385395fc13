"""IMD gridded daily rainfall (0.25°) and temperature (1°) -> per-station daily values.

IMD's APIs need IP whitelisting, so we use the gridded archive (imdpune.gov.in, the files `imdlib` reads):
headerless little-endian float32, one C-order (lat, lon) block per day, longitude varying fastest.
- Rain: 0.25°, 129 lat × 135 lon, lat 6.5–38.5, lon 66.5–100.0; a full year is 25,425,900 bytes (365 days).
  Missing (the sea, outside India) = −999.0. Served as `.grd` by `…/cmpg/Griddata/rainfall.php` (form field
  `rain` = year); `RF25.php` serves the NetCDF product instead (`ind<year>_rfp25.nc`), which this reader
  does not decode.
- Tmax/Tmin: 1°, 31 × 31, lat 7.5–37.5, lon 67.5–97.5. Missing = **99.9**, not −999: checked on IMD's
  real 2019 files (every sea cell holds 99.9; an independent export marks exactly those cells missing).
  Masking only −999 let sea cells enter the interpolation as 99.9 °C (a coastal station came out ~4 °C too
  warm, Ratnagiri 47.1 °C on 1 May 2019).

An archive file holds a whole year (365/366 days). A shorter file is a truncated download, never "the days
published so far": the current year is IMD's real-time daily product (0.25° rain, 0.5° temperature 61 × 61),
a different grid. So the size must be exactly a year, with one known exception: files served between
Oct 2022 and Mar 2023 carried one extra leading float32 before the first record; that size is recognised,
the 4 bytes skipped, and the fact reported (`GrdFile.leading_float32`) so it lands in the run's metadata.

Station values use **bilinear interpolation** over the four surrounding cell centres, renormalising the
weights over the cells that are not missing (near the coast some are sea); `grid_cells` records how many
were used. A station-day with no valid neighbour gets no row, and is counted in the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from purehealth_pipelines.sources.common import IST, ist_midnight

RAIN_MISSING = -999.0
TEMP_MISSING = 99.9
MISSING = RAIN_MISSING  # the rain archive's marker (kept for callers that mean rain)
TABLE = "raw.imd_rainfall"
SOURCE = "imd"


@dataclass(frozen=True)
class GridSpec:
    """A regular lat/lon grid: cell centres at lat0 + i·step, lon0 + j·step, with the product's missing value
    and the range a real value can take (anything else is masked and counted as implausible)."""

    lat0: float
    lon0: float
    step: float
    nlat: int
    nlon: int
    missing: float = RAIN_MISSING
    plausible: tuple[float, float] = (-1e9, 1e9)

    @property
    def day_bytes(self) -> int:
        return self.nlat * self.nlon * 4


RAIN_GRID = GridSpec(
    lat0=6.5, lon0=66.5, step=0.25, nlat=129, nlon=135, missing=RAIN_MISSING, plausible=(0.0, 2000.0)
)
TEMP_GRID = GridSpec(
    lat0=7.5, lon0=67.5, step=1.0, nlat=31, nlon=31, missing=TEMP_MISSING, plausible=(-40.0, 60.0)
)
# IMD's real-time daily products (not archive years): recognised by size only, to name them in errors.
REALTIME_GRIDS = {
    "real-time 0.5° temperature (61 × 61)": 61 * 61 * 4,
    "real-time 0.25° rain (129 × 135)": 129 * 135 * 4,
}
PARAMETERS = {
    "rain": ("rainfall_mm", "mm", RAIN_GRID),
    "tmax": ("tmax_c", "°C", TEMP_GRID),
    "tmin": ("tmin_c", "°C", TEMP_GRID),
}
LEADING_FLOAT_BYTES = 4


class GridFormatError(ValueError):
    """The file is not a whole year of daily grids of the expected size (truncated, or another product)."""


@dataclass
class GrdFile:
    """A decoded archive file: (days, nlat, nlon) with NaN for missing, and what the decoder had to do."""

    days: np.ndarray
    leading_float32: float | None = None  # the extra value of the Oct 2022 – Mar 2023 server files
    masked_cells: int = 0  # cells equal to the product's missing value (sea, outside India)
    implausible_cells: int = 0  # cells outside the plausible range that are not the missing value
    notes: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        return {
            "days": int(self.days.shape[0]),
            "leading_float32": self.leading_float32 is not None,
            "masked_cells": self.masked_cells,
            "implausible_cells": self.implausible_cells,
            "notes": list(self.notes),
        }


def days_in_year(year: int) -> int:
    return 366 if pd.Timestamp(year, 12, 31).dayofyear == 366 else 365


def decode_grd(
    data: bytes | memoryview, grid: GridSpec, *, year: int | None = None, expected_days: tuple[int, ...] = ()
) -> GrdFile:
    """Bytes of an IMD archive `.grd` -> GrdFile. The size must be a whole year (365/366 days, or exactly the
    days of `year`, or one of `expected_days`), optionally with one extra leading float32."""
    size = len(data)
    allowed = expected_days or ((days_in_year(year),) if year is not None else (365, 366))
    leading: float | None = None
    body = memoryview(data)
    if size in {n * grid.day_bytes + LEADING_FLOAT_BYTES for n in allowed}:
        leading = float(np.frombuffer(body[:LEADING_FLOAT_BYTES], dtype="<f4")[0])
        body = body[LEADING_FLOAT_BYTES:]
    elif size not in {n * grid.day_bytes for n in allowed}:
        if bytes(body[:4]) in (b"\x89HDF", b"CDF\x01", b"CDF\x02"):
            raise GridFormatError(
                "this is a NetCDF file (IMD's RF25.php serves ind<year>_rfp25.nc), not the .grd archive: "
                "point the rain URL at …/cmpg/Griddata/rainfall.php (field 'rain')"
            )
        raise GridFormatError(_size_problem(size, grid, allowed, year))
    array = np.frombuffer(body, dtype="<f4").reshape(-1, grid.nlat, grid.nlon).copy()
    missing = np.isclose(array, np.float32(grid.missing), rtol=0.0, atol=0.01)
    low, high = grid.plausible
    implausible = ~missing & ~np.isnan(array) & ((array < low) | (array > high))
    notes = []
    if leading is not None:
        notes.append(
            f"one extra leading float32 ({leading!r}) skipped: "
            "the layout IMD's server used Oct 2022 – Mar 2023"
        )
    if implausible.any():
        notes.append(
            f"{int(implausible.sum())} cells outside {grid.plausible} that are not the missing value "
            f"{grid.missing}: masked (another product's missing marker?)"
        )
    array[missing | implausible] = np.nan
    return GrdFile(
        days=array,
        leading_float32=leading,
        masked_cells=int(missing.sum()),
        implausible_cells=int(implausible.sum()),
        notes=notes,
    )


def _size_problem(size: int, grid: GridSpec, allowed: tuple[int, ...], year: int | None) -> str:
    whole = " or ".join(f"{n * grid.day_bytes:,}" for n in allowed)
    span = f"year {year}" if year else "year"
    what = f"{size:,} bytes is not a whole {span} of {grid.nlat}×{grid.nlon} float32 days "
    what += f"({whole} bytes, optionally + 4)"
    if size and size < min(allowed) * grid.day_bytes:
        what += f": {size / grid.day_bytes:.2f} days, a truncated download (re-download the archive file)"
    for name, day_bytes in REALTIME_GRIDS.items():
        if size and size % day_bytes == 0 and day_bytes != grid.day_bytes:
            what += f"; the size fits IMD's {name} daily product, not this archive"
    return what


def read_grd(
    data: bytes | memoryview, grid: GridSpec, *, year: int | None = None, expected_days: tuple[int, ...] = ()
) -> np.ndarray:
    """Bytes of a .grd file -> (days, nlat, nlon) float32 array with NaN for missing (see decode_grd)."""
    return decode_grd(data, grid, year=year, expected_days=expected_days).days


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


def station_daily_rows(
    data: bytes,
    kind: str,
    year: int,
    stations: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    *,
    provisional: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One year's archive .grd for 'rain' / 'tmax' / 'tmin' -> (raw.imd_rainfall rows for the days inside the
    window, facts for the run's metadata: days, stations, cells used, masked cells, leading float32, and the
    station-days that got no row because no neighbouring cell held data).

    `stations` needs station_id, latitude, longitude. ts = the IMD day at 00:00 IST.
    """
    parameter, unit, grid = PARAMETERS[kind]
    decoded = decode_grd(data, grid, year=year)
    grids = decoded.days
    first_day = ist_midnight(year)
    day_ts = pd.date_range(first_day, periods=grids.shape[0], freq="D", tz=IST)
    keep = (day_ts >= window_start) & (day_ts < window_end)
    facts: dict[str, Any] = {
        "variable": kind,
        "year": year,
        "file_bytes": len(data),
        **decoded.facts(),
        "window_days": int(keep.sum()),
        "window_masked_cells": int(np.isnan(grids[keep]).sum()) if keep.any() else 0,
        "stations": len(stations),
    }
    if not keep.any():
        facts.update(station_days=0, station_days_without_valid_cell=0, cells_used=0)
        return _empty(), facts
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
    valid = frame["value"].notna()
    no_cell = frame.loc[~valid, "station_id"]
    facts.update(
        station_days=int(valid.sum()),
        station_days_without_valid_cell=int((~valid).sum()),
        stations_without_valid_cell=sorted(set(no_cell))[:20],
        cells_used=int(frame.loc[valid, "grid_cells"].sum()),
    )
    return frame[valid].reset_index(drop=True), facts


def station_daily_frame(
    data: bytes,
    kind: str,
    year: int,
    stations: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    *,
    provisional: bool = False,
) -> pd.DataFrame:
    """The rows of `station_daily_rows` without the facts."""
    return station_daily_rows(data, kind, year, stations, window_start, window_end, provisional=provisional)[
        0
    ]


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
