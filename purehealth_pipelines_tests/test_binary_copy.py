"""Binary COPY encoding round-trips every supported type through the real server, NULLs included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from purehealth_pipelines.warehouse.writer import copy_frame

TABLE_DDL = """
CREATE TABLE ops.t_binary_copy (
    f8 double precision, f4 real, i8 bigint, i4 integer, i2 smallint, b boolean,
    tstz timestamptz, ts timestamp, d date, t text, v varchar(20), j jsonb
)"""


def test_binary_copy_round_trips_values_and_nulls(warehouse_url: str) -> None:
    frame = pd.DataFrame(
        {
            "f8": [1.5, np.nan, -2.25e-7],
            "f4": [0.5, 1.0, np.nan],
            "i8": [2**40, -1, 0],
            "i4": [7, -7, 123456],
            "i2": [1.0, np.nan, 4.0],  # a float column with NaN (pandas' missing int) lands as smallint/NULL
            "b": [True, False, True],
            "tstz": pd.to_datetime(
                ["2024-04-01T05:30:00+05:30", "1999-12-31T23:59:59.999999+00:00", None],
                utc=True,
                format="ISO8601",
            ),
            "ts": pd.to_datetime(["2024-01-01 00:00:01", "2000-01-01 00:00:00", "1970-01-01 00:00:00"]),
            "d": pd.to_datetime(["2024-02-29", "2000-01-01", "1999-12-31"]),
            "t": ["Krishna at Rajapur – weir", None, ""],
            "v": ["NWMP-1153", "NWMP-1153", "µS/cm"],
            "j": [{"reason": "bad json", "n": 1}, None, '{"already": "text"}'],
        }
    )
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(TABLE_DDL)
        try:
            with conn.cursor() as cur:
                assert copy_frame(cur, "ops.t_binary_copy", frame) == 3
            rows = conn.execute("SELECT * FROM ops.t_binary_copy ORDER BY i4").fetchall()
        finally:
            conn.execute("DROP TABLE ops.t_binary_copy")
    by_i4 = {r[3]: r for r in rows}
    first, second, third = by_i4[7], by_i4[-7], by_i4[123456]
    assert first[0] == 1.5 and second[0] is None and third[0] == -2.25e-7
    assert first[1] == 0.5 and third[1] is None
    assert (first[2], second[2], third[2]) == (2**40, -1, 0)
    assert (first[4], second[4], third[4]) == (1, None, 4)
    assert (first[5], second[5]) == (True, False)
    assert first[6].isoformat() == "2024-04-01T00:00:00+00:00"
    assert second[6].isoformat() == "1999-12-31T23:59:59.999999+00:00" and third[6] is None
    assert str(first[7]) == "2024-01-01 00:00:01" and str(third[7]) == "1970-01-01 00:00:00"
    assert str(first[8]) == "2024-02-29" and str(third[8]) == "1999-12-31"
    assert (first[9], second[9], third[9]) == ("Krishna at Rajapur – weir", None, "")
    assert third[10] == "µS/cm"
    assert (
        first[11] == {"reason": "bad json", "n": 1}
        and second[11] is None
        and third[11] == {"already": "text"}
    )
