"""IMD gridded archive: the reader against IMD's real 2019 temperature files and an independent export.

The real files live in ../shared/data/imd (not copied into the project); tests that need them skip with the
reason when the folder is absent. The quirks they revealed (99.9 as the temperature missing value, the
Oct 2022 – Mar 2023 leading float32, truncated downloads) are also reproduced with small synthetic grids, so
those checks run everywhere.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.demo.gridded import grd_bytes, temperature_year
from purehealth_pipelines.sources import imd

IST = "Asia/Kolkata"
IMD_DIR = settings.shared_data_dir() / "imd"
TMAX = IMD_DIR / "tmax_2019.GRD"
TMIN = IMD_DIR / "tmin_2019.GRD"
EXPORT = IMD_DIR / "tmax_2019_export.csv"
needs_real = pytest.mark.skipif(
    not (TMAX.exists() and TMIN.exists() and EXPORT.exists()),
    reason=f"IMD's real 2019 temperature files are not present in {IMD_DIR}",
)
# Points within 50 km of the Arabian Sea coast (Konkan), where sea cells neighbour the station.
COASTAL = pd.DataFrame(
    {
        "station_id": ["CWC-MANGAON", "RATNAGIRI", "MUMBAI", "ALIBAG", "MALVAN", "DAHANU", "VENGURLA"],
        "latitude": [18.23361, 16.99, 19.07, 18.64, 16.06, 19.97, 15.86],
        "longitude": [73.285, 73.31, 72.88, 72.87, 73.47, 72.73, 73.63],
    }
)
EXPORT_MISSING = -9999.0


def _export_grid() -> np.ndarray:
    """The independent export as a (365, 31, 31) array with NaN for its own missing marker (−9999)."""
    out = np.full((365, 31, 31), np.nan)
    with EXPORT.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert header[:3] == ["X", "Y", "1"]
        for row in reader:
            lon, lat = float(row[0]), float(row[1])
            j, i = round(lon - 67.5), round(lat - 7.5)
            values = np.array([float(v) for v in row[2:367]])
            out[:, i, j] = np.where(values == EXPORT_MISSING, np.nan, values)
    return out


def _bilinear_by_hand(grid: np.ndarray, lat: float, lon: float) -> float:
    """Bilinear interpolation written out cell by cell, renormalised over the cells that hold data."""
    fi, fj = lat - 7.5, lon - 67.5
    i0, j0 = math.floor(fi), math.floor(fj)
    di, dj = fi - i0, fj - j0
    total = weight = 0.0
    for i, j, w in (
        (i0, j0, (1 - di) * (1 - dj)),
        (i0, j0 + 1, (1 - di) * dj),
        (i0 + 1, j0, di * (1 - dj)),
        (i0 + 1, j0 + 1, di * dj),
    ):
        if w > 0 and not math.isnan(grid[i, j]):
            total += w * grid[i, j]
            weight += w
    return total / weight if weight else math.nan


@needs_real
def test_real_tmax_decodes_to_the_independent_export_on_every_cell() -> None:
    decoded = imd.decode_grd(TMAX.read_bytes(), imd.TEMP_GRID, year=2019)
    export = _export_grid()
    assert decoded.days.shape == (365, 31, 31)
    assert decoded.leading_float32 is None and decoded.implausible_cells == 0
    # The reader's missing cells are exactly the export's, and every valid value is equal.
    np.testing.assert_array_equal(np.isnan(decoded.days), np.isnan(export))
    valid = ~np.isnan(export)
    assert valid.sum() == 126_571
    np.testing.assert_allclose(decoded.days[valid], export[valid], rtol=0, atol=1e-5)
    assert decoded.masked_cells == int((~valid).sum())


@needs_real
@pytest.mark.parametrize("path", [TMAX, TMIN], ids=["tmax", "tmin"])
def test_real_temperature_files_mark_the_sea_with_99_9(path) -> None:
    raw = np.frombuffer(path.read_bytes(), dtype="<f4")
    assert (raw == np.float32(99.9)).any() and not (raw <= -998.5).any()  # the premise of the fix
    decoded = imd.decode_grd(path.read_bytes(), imd.TEMP_GRID, year=2019)
    assert decoded.masked_cells == int((raw == np.float32(99.9)).sum())
    values = decoded.days[~np.isnan(decoded.days)]
    assert values.min() > -10 and values.max() < 52  # no 99.9 left as a temperature


@needs_real
def test_real_tmax_at_coastal_points_equals_hand_interpolation_and_stays_below_46() -> None:
    rows, facts = imd.station_daily_rows(
        TMAX.read_bytes(),
        "tmax",
        2019,
        COASTAL,
        pd.Timestamp("2019-01-01", tz=IST),
        pd.Timestamp("2020-01-01", tz=IST),
    )
    assert facts["days"] == 365 and facts["window_days"] == 365
    assert facts["station_days"] + facts["station_days_without_valid_cell"] == 365 * len(COASTAL)
    export = _export_grid()
    rows["day"] = rows["ts"].dt.tz_convert(IST).dt.dayofyear - 1
    for station in COASTAL.itertuples():
        got = rows[rows["station_id"] == station.station_id].set_index("day")["value"]
        expected = pd.Series(
            [_bilinear_by_hand(export[d], station.latitude, station.longitude) for d in range(365)]
        ).dropna()
        assert list(got.index) == list(expected.index), station.station_id
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=0.006)
    # Before the fix, sea cells entered as 99.9 °C: Ratnagiri got 47.1 °C on 1 May 2019.
    assert rows["value"].max() <= 46.0
    ratnagiri_may1 = rows[(rows["station_id"] == "RATNAGIRI") & (rows["day"] == 120)]["value"].iloc[0]
    assert ratnagiri_may1 < 40.0
    mangaon = rows[rows["station_id"] == "CWC-MANGAON"]
    assert (mangaon["grid_cells"] < 4).all()  # a sea cell is among its neighbours, and was left out


def _synthetic_year(days: int = 365) -> np.ndarray:
    grid = imd.TEMP_GRID
    values = np.full((days, grid.nlat, grid.nlon), 30.0, dtype="<f4")
    values[:, :, :3] = np.float32(imd.TEMP_MISSING)  # 'sea' in the west
    values += np.arange(days, dtype="<f4")[:, None, None] / 100 * (values < 90)
    return values


def test_truncated_archive_is_an_error_not_a_shorter_year() -> None:
    data = _synthetic_year().tobytes()
    assert imd.decode_grd(data, imd.TEMP_GRID, year=2019).days.shape[0] == 365
    for cut in (imd.TEMP_GRID.day_bytes * 200, len(data) - 4, len(data) - 1000):
        with pytest.raises(imd.GridFormatError, match="truncated"):
            imd.decode_grd(data[:cut], imd.TEMP_GRID, year=2019)
    with pytest.raises(imd.GridFormatError, match="not a whole year 2020"):
        imd.decode_grd(data, imd.TEMP_GRID, year=2020)  # 2020 has 366 days


def test_netcdf_bytes_are_named_as_the_wrong_product() -> None:
    with pytest.raises(imd.GridFormatError, match=r"rainfall\.php"):
        imd.decode_grd(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000, imd.RAIN_GRID, year=2019)


def test_leading_float32_of_the_2022_23_server_is_recognised_by_size_and_reported() -> None:
    plain = _synthetic_year().tobytes()
    shifted = np.array([7.0], dtype="<f4").tobytes() + plain
    a = imd.decode_grd(plain, imd.TEMP_GRID, year=2022)
    b = imd.decode_grd(shifted, imd.TEMP_GRID, year=2022)
    np.testing.assert_array_equal(a.days, b.days)
    assert a.leading_float32 is None and b.leading_float32 == 7.0
    assert b.facts()["leading_float32"] is True and "Oct 2022" in b.notes[0]
    stations = pd.DataFrame({"station_id": ["S"], "latitude": [20.0], "longitude": [75.0]})
    _, facts = imd.station_daily_rows(
        shifted,
        "tmax",
        2022,
        stations,
        pd.Timestamp("2022-03-01", tz=IST),
        pd.Timestamp("2022-03-02", tz=IST),
    )
    assert facts["leading_float32"] is True


def test_temperature_reader_masks_99_9_and_counts_it() -> None:
    data = _synthetic_year().tobytes()
    decoded = imd.decode_grd(data, imd.TEMP_GRID, year=2019)
    assert decoded.masked_cells == 365 * 31 * 3
    assert np.isnan(decoded.days[:, :, :3]).all() and not np.isnan(decoded.days[:, :, 3:]).any()
    # A station between a sea column and land gets the land value, not a mix with 99.9.
    stations = pd.DataFrame({"station_id": ["COAST"], "latitude": [20.0], "longitude": [67.5 + 2.5]})
    rows, facts = imd.station_daily_rows(
        data, "tmax", 2019, stations, pd.Timestamp("2019-01-01", tz=IST), pd.Timestamp("2019-01-03", tz=IST)
    )
    assert rows["value"].tolist() == [30.0, 30.01] and (rows["grid_cells"] == 2).all()
    assert facts["cells_used"] == 4 and facts["station_days_without_valid_cell"] == 0


def test_station_without_any_valid_neighbour_is_counted() -> None:
    data = _synthetic_year().tobytes()
    stations = pd.DataFrame({"station_id": ["SEA"], "latitude": [20.0], "longitude": [68.0]})
    rows, facts = imd.station_daily_rows(
        data, "tmin", 2019, stations, pd.Timestamp("2019-01-01", tz=IST), pd.Timestamp("2019-01-11", tz=IST)
    )
    assert rows.empty and facts["station_days_without_valid_cell"] == 10
    assert facts["stations_without_valid_cell"] == ["SEA"]


@pytest.mark.parametrize("kind", ["tmax", "tmin"])
def test_demo_temperature_grid_writes_99_9_over_the_sea(kind: str) -> None:
    array = temperature_year(2023, seed=3, kind=kind)
    sea = array == np.float32(imd.TEMP_MISSING)
    assert sea[0].sum() > 50 and not (array <= -998.5).any()
    decoded = imd.decode_grd(grd_bytes(2023, 3, kind), imd.TEMP_GRID, year=2023)
    assert decoded.masked_cells == int(sea.sum())
    assert np.nanmax(decoded.days) < 50.0
