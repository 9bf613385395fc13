"""Timestamps read back from the warehouse keep their value whatever mix of fractions a column holds.

PostgreSQL prints `05:45:00+00` for a whole second and `05:57:39.531+00` otherwise; pandas infers one
format from the first row, which failed `mart/alerts` on every live tick. Both row orders are tried, since
which row comes first differs between TimescaleDB editions and chunk layouts.
"""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from purehealth_pipelines.forecasting.readings import _copy_frame
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.reader import read_frame

WHOLE = pd.Timestamp("2026-12-02 05:45:00", tz="UTC")
FRACTION = pd.Timestamp("2026-12-02 05:57:39.531", tz="UTC")
MICROS = pd.Timestamp("2026-12-02 06:00:00.000001", tz="UTC")


@pytest.fixture
def mixed_table(warehouse_url: str) -> str:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.reader_mixed_ts (n int, station_id text, ts timestamptz,"
            " naive timestamp, day date, flag boolean, value double precision, count bigint)"
        )
        conn.execute("TRUNCATE public.reader_mixed_ts")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.reader_mixed_ts VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        1,
                        "1153",
                        WHOLE.to_pydatetime(),
                        WHOLE.tz_localize(None).to_pydatetime(),
                        WHOLE.date(),
                        True,
                        1.5,
                        7,
                    ),
                    (
                        2,
                        "A-1",
                        FRACTION.to_pydatetime(),
                        FRACTION.tz_localize(None).to_pydatetime(),
                        FRACTION.date(),
                        False,
                        None,
                        8,
                    ),
                    (3, "0042", MICROS.to_pydatetime(), None, None, None, 2.25, 9),
                ],
            )
    return "public.reader_mixed_ts"


@pytest.mark.parametrize("order", ["n", "n DESC"])
def test_read_frame_types_mixed_fractions(warehouse_url: str, mixed_table: str, order: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        frame = read_frame(conn, f"SELECT * FROM {mixed_table} ORDER BY {order}")
    frame = frame.sort_values("n").reset_index(drop=True)
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert list(frame["ts"]) == [WHOLE, FRACTION, MICROS]
    assert frame["naive"].iloc[1] == FRACTION.tz_localize(None)
    assert pd.isna(frame["naive"].iloc[2])
    assert frame["day"].iloc[0] == pd.Timestamp("2026-12-02")
    assert list(frame["station_id"]) == ["1153", "A-1", "0042"]  # codes stay text
    assert frame["flag"].iloc[0] is True or bool(frame["flag"].iloc[0]) is True
    assert pd.isna(frame["flag"].iloc[2])
    assert frame["value"].iloc[2] == 2.25 and pd.isna(frame["value"].iloc[1])
    assert frame["count"].dtype == "int64"


def test_read_frame_binds_parameters_and_keeps_empty_types(warehouse_url: str, mixed_table: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        some = read_frame(conn, f"SELECT ts FROM {mixed_table} WHERE ts > %(after)s", {"after": WHOLE})
        none = read_frame(conn, f"SELECT ts, station_id FROM {mixed_table} WHERE false")
    assert sorted(some["ts"]) == [FRACTION, MICROS]
    assert none.empty and str(none["ts"].dtype) == "datetime64[us, UTC]"


def test_every_reader_returns_the_same_instants(warehouse_url: str, mixed_table: str) -> None:
    warehouse = WarehouseResource(url=warehouse_url)
    query = f"SELECT station_id, ts FROM {mixed_table} ORDER BY n DESC"
    fetched = warehouse.read_frame(query)
    copied = _copy_frame(warehouse, sql.SQL(query), ["station_id", "ts"])
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        typed = read_frame(conn, query)
    expected = [MICROS, FRACTION, WHOLE]
    assert [pd.Timestamp(t) for t in fetched["ts"]] == expected
    assert list(copied["ts"]) == expected
    assert list(typed["ts"]) == expected
