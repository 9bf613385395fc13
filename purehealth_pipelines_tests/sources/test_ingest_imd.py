"""`purehealth ingest imd --variable tmax FILE` against a scratch warehouse: IMD's real 2019 Tmax archive
lands 365 days for every located station, replaces only its own variable, and a second run changes nothing."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.sources.collect import located_stations

TMAX = settings.shared_data_dir() / "imd" / "tmax_2019.GRD"

CONTENT = (
    "SELECT count(*), count(DISTINCT station_id), count(DISTINCT ts),"
    " md5(string_agg(station_id || ts::text || value::text || grid_cells::text, ','"
    " ORDER BY station_id, ts)), max(value)"
    " FROM raw.imd_rainfall WHERE parameter = 'tmax_c'"
)


def _fetch(url: str, query: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()


@pytest.mark.skipif(not TMAX.exists(), reason=f"IMD's real 2019 Tmax archive is not present at {TMAX}")
def test_ingest_imd_real_tmax_lands_365_days_per_station_and_is_idempotent(module_warehouse_url, capsys):
    from purehealth_pipelines.cli import main

    with psycopg.connect(module_warehouse_url) as conn:  # another variable of the same year must survive
        conn.execute(
            "INSERT INTO raw.imd_rainfall (station_id, parameter, ts, value, unit, method)"
            " VALUES ('CWC-MANGAON', 'tmin_c', '2019-05-01 00:00+05:30', 24.0, '°C', 'bilinear')"
        )
    args = ["ingest", "imd", "--variable", "tmax", str(TMAX), "--url", module_warehouse_url, "-q"]
    assert main(args) == 0
    first_out = capsys.readouterr().out
    located = located_stations()
    rows, stations, days, digest, hottest = _fetch(module_warehouse_url, CONTENT)
    assert (stations, days, rows) == (len(located), 365, 365 * len(located))
    assert hottest <= 47.5  # Maharashtra's hottest 2019 days (Vidarbha) are ~47 °C; 99.9 would show here
    per_station = _fetch(
        module_warehouse_url,
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM raw.imd_rainfall"
        " WHERE parameter = 'tmax_c' GROUP BY station_id) s",
    )
    assert per_station == (365, 365)
    assert "365 days of 31×31 cells" in first_out and "masked as missing (99.9)" in first_out

    assert main(args) == 0
    second_out = capsys.readouterr().out
    again = _fetch(module_warehouse_url, CONTENT)
    assert again == (rows, stations, days, digest, hottest)  # same rows, same values
    assert f"written: {rows} rows of tmax_c to raw.imd_rainfall ({rows} replaced)" in second_out
    tmin = _fetch(module_warehouse_url, "SELECT count(*) FROM raw.imd_rainfall WHERE parameter = 'tmin_c'")
    assert tmin == (1,)


def test_ingest_imd_refuses_a_truncated_file(module_warehouse_url, tmp_path, caplog):
    from purehealth_pipelines.cli import main

    year = np.full((200, 31, 31), 30.0, dtype="<f4")  # 200 days: a download cut short
    path = tmp_path / "tmin_2021.grd"
    path.write_bytes(year.tobytes())
    assert main(["ingest", "imd", "--variable", "tmin", str(path), "--url", module_warehouse_url, "-q"]) == 1
    assert "truncated" in caplog.text
    assert _fetch(module_warehouse_url, "SELECT count(*) FROM raw.imd_rainfall WHERE ts >= '2021-01-01'") == (
        0,
    )
