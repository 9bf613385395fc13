"""Parsers of every source on realistic and broken input (pure functions: no database, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.demo.publishers import mpcb_table_csv, nwmp_table_csv
from purehealth_pipelines.sources import cwc, earth_engine, imd, mpcb
from purehealth_pipelines.sources.common import parse_cell
from purehealth_pipelines.sources.cpcb_nwmp import parse_nwmp_table
from purehealth_pipelines.sources.http import PublisherSchemaError

FIXTURES = Path(__file__).parent / "fixtures"
IST = "Asia/Kolkata"


@pytest.mark.parametrize(
    ("raw", "value", "censored", "status"),
    [
        ("7.2", 7.2, None, "ok"),
        ("BDL", None, "<", "ok"),
        ("<2", 2.0, "<", "ok"),
        (">1600", 1600.0, ">", "ok"),
        ("16000\n 0", 160000.0, None, "ok"),
        ("1.00E+06", 1e6, None, "ok"),
        ("-", None, None, "missing"),
        ("_", None, None, "missing"),
        ("--", None, None, "missing"),
        ("", None, None, "missing"),
        (".1.4", None, None, "bad"),
        ("1-\n 586", None, None, "bad"),
    ],
)
def test_parse_cell(raw: str, value: float | None, censored: str | None, status: str) -> None:
    cell = parse_cell(raw)
    assert (cell.value, cell.censored, cell.status) == (value, censored, status)


def test_nwmp_fixture_lands_or_dead_letters_every_record() -> None:
    parsed = parse_nwmp_table((FIXTURES / "nwmp_dirty.csv").read_text(), source_file="nwmp_dirty.csv")
    assert (
        parsed.records_total,
        parsed.records_landed,
        parsed.records_rejected,
        parsed.records_out_of_scope,
    ) == (
        9,
        3,
        5,
        1,
    )
    rows = parsed.rows.set_index(["station_id", "parameter", "statistic"])
    assert set(parsed.rows["station_id"]) == {"NWMP-1153", "NWMP-2168", "NWMP-1190"}
    assert rows.loc[("NWMP-1153", "bod_mg_l", "min"), "censored"] == "<"
    assert pd.isna(rows.loc[("NWMP-1153", "bod_mg_l", "min"), "value"])
    assert rows.loc[("NWMP-1153", "fc_mpn_100ml", "max"), "value"] == 160000.0
    assert rows.loc[("NWMP-1153", "fs_mpn_100ml", "min"), "censored"] == "<"
    assert rows.loc[("NWMP-2168", "tc_mpn_100ml", "max"), "censored"] == ">"
    assert rows.loc[("NWMP-2168", "tc_mpn_100ml", "max"), "station_code"] == "2168"
    assert ("NWMP-2168", "nitrate_n_mg_l", "min") not in rows.index  # '-' is not measured
    assert ("NWMP-1190", "do_mg_l", "min") not in rows.index  # '.1.4' dead-lettered
    assert ("NWMP-1190", "ph", "min") not in rows.index  # min > max dead-lettered
    reasons = " | ".join(parsed.dead_letters["reason"])
    for expected in (
        "duplicate station-year",
        "missing state",
        "not numeric",
        "no measured value",
        "invalid year",
        "unparseable value: do_mg_l min",
        "min greater than max: ph",
    ):
        assert expected in reasons
    assert parsed.rows["ts"].iloc[0] == pd.Timestamp("2023-01-01", tz=IST)
    assert not parsed.rows.duplicated(["station_id", "parameter", "statistic", "ts"]).any()


def test_nwmp_rejects_a_table_in_another_format() -> None:
    with pytest.raises(PublisherSchemaError, match="not an NWMP table"):
        parse_nwmp_table("Name,Value\nx,1\n", source_file="other.csv")


def test_nwmp_demo_table_round_trips_through_the_real_parser() -> None:
    parsed = parse_nwmp_table(nwmp_table_csv(2022, seed=7), source_file="demo", years=[2022])
    assert parsed.records_landed >= 120
    assert (
        parsed.records_total == parsed.records_landed + parsed.records_rejected + parsed.records_out_of_scope
    )
    assert "duplicate station-year" in parsed.rejected_by_reason
    assert nwmp_table_csv(2022, seed=7) == nwmp_table_csv(2022, seed=7)
    assert nwmp_table_csv(2022, seed=7) != nwmp_table_csv(2022, seed=8)


REAL_NWMP = settings.shared_data_dir() / "cpcb_nwmp_river_2012_2023.csv"


@pytest.mark.skipif(not REAL_NWMP.exists(), reason=f"real NWMP compilation not present at {REAL_NWMP}")
@pytest.mark.parametrize("states", [("MAHARASHTRA",), None])
def test_real_nwmp_file_every_record_landed_or_dead_lettered(states: tuple[str, ...] | None) -> None:
    parsed = parse_nwmp_table(
        REAL_NWMP.read_text(encoding="utf-8"), source_file=REAL_NWMP.name, states=states
    )
    assert parsed.records_total == 10006
    assert (
        parsed.records_total == parsed.records_landed + parsed.records_rejected + parsed.records_out_of_scope
    )
    assert not parsed.rows.duplicated(["station_id", "parameter", "statistic", "ts"]).any()
    assert parsed.rows["station_id"].str.fullmatch(r"NWMP-\d+").all()
    if states:
        assert (
            parsed.records_landed + parsed.records_rejected >= 714
        )  # every Maharashtra record is accounted for
        assert parsed.rows["station_id"].nunique() >= 125
        assert (parsed.rows["censored"] == "<").sum() > 100  # 'BDL' kept as censored
    assert len(parsed.dead_letters) == parsed.records_rejected + parsed.cells_rejected


def test_mpcb_table_months_censoring_and_bad_cells() -> None:
    text = (
        "Water Quality of Rivers 2023-24\n\n"
        "Sr. No.,Station Code,Name of Monitoring Location,Regional Office,Frequency,Parameter,"
        "Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec,Jan,Feb,Mar,Average\n"
        "1,1153,Krishna at Rajapur,Kolhapur,Monthly,pH,7.6,7.5,7.4,7.3,7.2,7.5,7.6,7.7,7.8,7.9,8.0,7.9,7.6\n"
        "2,1153,Krishna at Rajapur,Kolhapur,Monthly,Total Coliform (MPN/100ml),"
        "9,17,220,1600,>1600,350,40,17,9,9,"
        "12,15,-\n"
        "3,1153,Krishna at Rajapur,Kolhapur,Monthly,BOD (mg/l),2.2,BDL,7.2.7,1.4,NS,2,2,2,2,2,2,2,2\n"
        "4,ABC,Nowhere,Pune,Monthly,pH,7,7,7,7,7,7,7,7,7,7,7,7,7\n"
    )
    start, end = pd.Timestamp("2023-06-01", tz=IST), pd.Timestamp("2023-09-01", tz=IST)
    rows, dead = mpcb.parse_mpcb_table(
        text, fy_start_year=2023, origin="t", window_start=start, window_end=end
    )
    assert set(rows["ts"].dt.tz_convert(IST).dt.month) == {6, 7, 8}
    tc = rows[rows["parameter"] == "tc_mpn_100ml"]
    tc = tc.set_index(tc["ts"].dt.tz_convert(IST).dt.month)
    assert tc.loc[7, "censored"] == ">" and tc.loc[8, "censored"] == ">" and pd.isna(tc.loc[6, "censored"])
    assert "unparseable value: bod_mg_l Jun" in " ".join(dead["reason"])
    assert "not numeric" in " ".join(dead["reason"])
    assert (rows["station_id"] == "NWMP-1153").all()
    with pytest.raises(PublisherSchemaError):
        mpcb.parse_mpcb_table(
            "a,b\n1,2\n", fy_start_year=2023, origin="t", window_start=start, window_end=end
        )


def test_mpcb_demo_table_parses() -> None:
    start, end = pd.Timestamp("2024-04-01", tz=IST), pd.Timestamp("2025-04-01", tz=IST)
    rows, _ = mpcb.parse_mpcb_table(
        mpcb_table_csv(2024, 1), fy_start_year=2024, origin="d", window_start=start, window_end=end
    )
    assert rows["station_id"].nunique() > 100 and set(rows["parameter"]) == {
        "ph",
        "bod_mg_l",
        "do_mg_l",
        "tc_mpn_100ml",
        "fc_mpn_100ml",  # another issue's WQI needs FC from MPCB
        "ec_us_cm",
        "nitrate_n_mg_l",
        "temp_c",
    }
    fc = rows[rows["parameter"] == "fc_mpn_100ml"]
    tc = rows[rows["parameter"] == "tc_mpn_100ml"]
    assert len(fc) > 1000 and (fc["unit"] == "MPN/100 mL").all()
    both = fc.merge(tc, on=["station_id", "ts"], suffixes=("_fc", "_tc"))
    assert (both["value_fc"] <= both["value_tc"]).all()  # fecal coliform is a part of total coliform


def test_mpcb_every_parameter_it_reports_with_the_unit_the_table_states() -> None:
    text = (
        "Station Code,Name of Monitoring Location,Parameter,Unit,"
        "Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec,Jan,Feb,Mar,Average\n"
        "1153,Krishna,Fecal Coliform,MPN/100 ml,7,>1600,1600,-,-,-,-,-,-,-,-,-,-\n"
        "1154,Panchganga,Faecal Coliform (No./100ml),,20,30,-,-,-,-,-,-,-,-,-,-,-\n"
        "1155,Mula,Fecal Coliform,CFU/100ml,20,30,-,-,-,-,-,-,-,-,-,-,-\n"
        "1153,Krishna,COD (mg/l),,12,14,-,-,-,-,-,-,-,-,-,-,-\n"
        "1153,Krishna,Conductivity,mS/cm,0.45,0.5,-,-,-,-,-,-,-,-,-,-,-\n"
        "1153,Krishna,Nitrate-N (mg/l),,0.4,BDL,-,-,-,-,-,-,-,-,-,-,-\n"
        "1153,Krishna,Temperature (°C),,27,29,-,-,-,-,-,-,-,-,-,-,-\n"
        "1153,Krishna,Sulphate (mg/l),,20,21,-,-,-,-,-,-,-,-,-,-,-\n"
    )
    start, end = pd.Timestamp("2023-04-01", tz=IST), pd.Timestamp("2024-04-01", tz=IST)
    rows, dead = mpcb.parse_mpcb_table(
        text, fy_start_year=2023, origin="t", window_start=start, window_end=end
    )
    rows["month"] = rows["ts"].dt.tz_convert(IST).dt.month
    rows["censored"] = rows["censored"].astype(object).where(rows["censored"].notna(), None)
    got = {(r.station_id, r.parameter, r.month): (r.value, r.censored, r.unit) for r in rows.itertuples()}
    assert got[("NWMP-1153", "fc_mpn_100ml", 4)] == (7.0, None, "MPN/100 mL")
    assert got[("NWMP-1153", "fc_mpn_100ml", 5)] == (1600.0, ">", "MPN/100 mL")
    assert got[("NWMP-1153", "fc_mpn_100ml", 6)] == (1600.0, ">", "MPN/100 mL")  # the MPN table's top
    assert got[("NWMP-1154", "fc_mpn_100ml", 4)] == (20.0, None, "MPN/100 mL")
    assert got[("NWMP-1153", "cod_mg_l", 5)] == (14.0, None, "mg/L")
    assert got[("NWMP-1153", "ec_us_cm", 4)] == (450.0, None, "µS/cm")  # mS/cm converted
    assert got[("NWMP-1153", "nitrate_n_mg_l", 5)][1] == "<"
    assert got[("NWMP-1153", "temp_c", 5)] == (29.0, None, "°C")
    assert not any(k[0] == "NWMP-1155" for k in got)  # CFU is not MPN: not assumed
    reasons = " | ".join(dead["reason"])
    assert "unknown unit: fc_mpn_100ml stated in 'CFU/100ml'" in reasons
    assert "unknown parameter 'Sulphate (mg/l)'" in reasons


def _wris(name: str, value: object, time: str = "2024-07-01 08:00:00.0", unit: str = "m") -> dict:
    return {
        "stationCode": "032-X",
        "stationName": name,
        "latitude": 17.3,
        "longitude": 74.07,
        "dataValue": value,
        "dataTime": time,
        "unit": unit,
    }


def test_wris_records_parse_and_dead_letter_garbage() -> None:
    records = [
        ("River Water Level", _wris("Karad", 562.31)),
        ("River Water Level", _wris("Karad", "NA", "2024-07-01 09:00:00.0")),
        ("River Water Level", _wris("Karad", -9999.0, "2024-07-01 10:00:00.0")),
        ("River Water Discharge", _wris("Samdoli (Seasonal)", "812.5", unit="cumec")),
        ("River Water Level", {"stationName": "Karad"}),
        ("River Water Level", _wris("Karad", 1.0, "2024-07-03 08:00:00.0")),  # outside the window: ignored
    ]
    rows, dead = cwc.parse_wris_records(
        records, pd.Timestamp("2024-07-01", tz=IST), pd.Timestamp("2024-07-02", tz=IST)
    )
    assert list(rows["station_id"]) == ["CWC-KARAD", "CWC-SAMDOLI-SEASONAL"]
    assert rows.loc[1, "unit"] == "m³/s" and rows.loc[1, "value"] == 812.5
    assert rows.loc[0, "ts"] == pd.Timestamp("2024-07-01 08:00", tz=IST)
    assert len(dead) == 3
    with pytest.raises(PublisherSchemaError):
        cwc.parse_wris_records(
            [("River Water Level", {"foo": 1})],
            pd.Timestamp("2024-07-01", tz=IST),
            pd.Timestamp("2024-07-02", tz=IST),
        )


def test_imd_grd_exact_size_and_bilinear_interpolation() -> None:
    grid = imd.RAIN_GRID
    days = np.full((365, grid.nlat, grid.nlon), imd.MISSING, dtype="<f4")
    lat_idx, lon_idx = np.meshgrid(np.arange(grid.nlat), np.arange(grid.nlon), indexing="ij")
    days[:] = (lat_idx + 10 * lon_idx).astype("<f4")  # a linear field: bilinear must be exact
    days[5, 50, 30] = imd.MISSING
    data = days.tobytes()
    assert len(data) == 25_425_900
    arr = imd.read_grd(data, grid)
    assert arr.shape == (365, 129, 135) and np.isnan(arr[5, 50, 30])
    stations = pd.DataFrame(
        {
            "station_id": ["A", "OUT"],
            "latitude": [6.5 + 0.25 * 40.5, 50.0],
            "longitude": [66.5 + 0.25 * 20.25, 75.0],
        }
    )
    frame = imd.station_daily_frame(
        data,
        "rain",
        2023,
        stations,
        pd.Timestamp("2023-01-01", tz=IST),
        pd.Timestamp("2023-01-03", tz=IST),
        provisional=False,
    )
    assert list(frame["station_id"]) == ["A", "A"]  # the station outside the grid gets no row
    assert frame["value"].iloc[0] == pytest.approx(40.5 + 10 * 20.25, abs=0.01)
    assert (frame["grid_cells"] == 4).all()
    with pytest.raises(imd.GridFormatError):
        imd.read_grd(data[:-4], grid)


def test_imd_missing_neighbour_renormalises_weights() -> None:
    grid = imd.TEMP_GRID
    day = np.full((1, grid.nlat, grid.nlon), 30.0, dtype="<f4")
    day[0, 12, 5] = imd.TEMP_MISSING  # temperature's missing value is 99.9, not −999
    values, counts = imd.interpolate_to_stations(
        imd.read_grd(day.tobytes(), grid, expected_days=(1,)),
        grid,
        np.array([7.5 + 12.5]),
        np.array([67.5 + 5.5]),
    )
    assert values[0, 0] == pytest.approx(30.0) and counts[0, 0] == 3


def test_satellite_table_to_rows_drops_cloudy_and_derives_chl_a() -> None:
    table = pd.DataFrame(
        [
            {
                "station_id": "S",
                "scene_id": "a",
                "platform": "sentinel2",
                "time_start": 1709789400000,
                "ndwi_mean": 0.3,
                "mndwi_mean": 0.4,
                "ndti_mean": -0.05,
                "ndci_mean": 0.1,
                "ndwi_count": 80,
            },
            {
                "station_id": "S",
                "scene_id": "b",
                "platform": "landsat8",
                "time_start": 1709789400000,
                "ndwi_mean": None,
                "mndwi_mean": None,
                "ndti_mean": None,
                "ndwi_count": 0,
            },
        ]
    )
    rows, dropped = earth_engine.indices_table_to_rows(table, buffer_m=60)
    assert dropped == 1
    values = rows.set_index("parameter")["value"]
    assert values["chl_a_mg_m3"] == pytest.approx(14.039 + 8.6115 + 1.94325, abs=1e-4)
    assert set(rows["pixel_count"]) == {80}
    with pytest.raises(PublisherSchemaError):
        earth_engine.indices_table_to_rows(pd.DataFrame({"x": [1]}), buffer_m=60)


def test_satellite_window_without_scenes_is_zero_rows_not_a_schema_error() -> None:
    # What the real computeFeatures(PANDAS_DATAFRAME) converter returns for an empty collection: no columns.
    for empty in (pd.DataFrame(), pd.DataFrame(columns=["station_id", "scene_id", "time_start"])):
        rows, dropped = earth_engine.indices_table_to_rows(empty, buffer_m=60)
        assert rows.empty and dropped == 0
        assert list(rows.columns) == list(earth_engine.ROW_COLUMNS)
        window = rows[rows["ts"] >= pd.Timestamp("2024-03-03", tz="UTC")]  # what collect_satellite does
        assert window.empty
    with pytest.raises(PublisherSchemaError):  # rows without the expected columns still are a schema change
        earth_engine.indices_table_to_rows(pd.DataFrame({"x": [1]}), buffer_m=60)


def test_collect_satellite_empty_week_notes_it_in_the_facts() -> None:
    from purehealth_pipelines.sources import collect

    class NoScenes:
        mode, buffer_m, min_pixels = "demo", 60, 1

        def fetch_indices(self, stations, start, end):
            return pd.DataFrame(), "{}"

    start, end = pd.Timestamp("2024-03-04", tz="UTC"), pd.Timestamp("2024-03-11", tz="UTC")
    batch = collect.collect_satellite(NoScenes(), start, end)
    assert batch.rows.empty and "no scenes in the window" in batch.facts["note"]
