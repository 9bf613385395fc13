"""Reading the forecasting inputs from the warehouse (the I/O edge; the science is in features.py).

Training data comes straight from core.readings — good readings (qc_flag = 1, not censored), hourly means
computed in SQL with time_bucket — so forecasting does not wait for mart.readings_hourly. Hours are
labelled by their END (bucket start + 1 h), the convention features.py relies on: the value labelled t is
the mean over [t - 1 h, t), complete at t. When mart.readings_hourly exists this query can be swapped for
it, provided the label shift is kept.

Rows are fetched with COPY ... TO STDOUT into pandas (far faster than row tuples for millions of rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from psycopg import sql

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.vocabulary import QartodFlag
from purehealth_pipelines.warehouse.reader import read_frame

HOURLY_SQL = """
SELECT station_id, parameter, time_bucket('1 hour', ts) + interval '1 hour' AS ts, avg(value) AS value
FROM core.readings
WHERE qc_flag = {good} AND censored IS NULL AND value IS NOT NULL
  AND parameter = ANY({parameters}) AND ts >= {start} AND ts < {end} {station_filter}
GROUP BY 1, 2, 3
"""

EXOGENOUS_SQL = """
SELECT station_id, parameter, ts, value FROM raw.imd_rainfall
 WHERE parameter = 'rainfall_mm' AND ts >= {start_daily} AND ts < {end} {station_filter}
UNION ALL
SELECT station_id, parameter, ts, value FROM raw.cwc_river_levels
 WHERE ts >= {start_daily} AND ts < {end} {station_filter}
UNION ALL
SELECT station_id, parameter, ts, avg(value) FROM raw.satellite_indices
 WHERE parameter IN ('ndwi', 'ndti', 'ndci', 'chl_a_mg_m3') AND ts >= {start_satellite} AND ts < {end}
   {station_filter}
 GROUP BY station_id, parameter, ts
"""


def _station_filter(stations: Sequence[str] | None) -> sql.Composable:
    if stations is None:
        return sql.SQL("")
    return sql.SQL("AND station_id = ANY({})").format(sql.Literal(list(stations)))


def _copy_frame(warehouse: WarehouseResource, query: sql.Composable, columns: list[str]) -> pd.DataFrame:
    """The query's rows (typed by the server, see warehouse.reader) under the given column names."""
    with warehouse.connect() as conn:
        frame = read_frame(conn, query)
    return frame.set_axis(columns, axis=1)


def read_hourly(
    warehouse: WarehouseResource,
    parameters: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    stations: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Hourly means of good readings whose raw ts is in [start, end); labelled by the hour's end."""
    query = sql.SQL(HOURLY_SQL).format(
        good=sql.Literal(int(QartodFlag.PASS)),
        parameters=sql.Literal(list(parameters)),
        start=sql.Literal(pd.Timestamp(start).to_pydatetime()),
        end=sql.Literal(pd.Timestamp(end).to_pydatetime()),
        station_filter=_station_filter(stations),
    )
    return _copy_frame(warehouse, query, ["station_id", "parameter", "ts", "value"])


def read_exogenous(
    warehouse: WarehouseResource,
    start: pd.Timestamp,
    end: pd.Timestamp,
    stations: Sequence[str] | None = None,
) -> pd.DataFrame:
    """IMD rainfall, CWC level/discharge and satellite indices observed before `end` (long format).

    Reaches back before `start` far enough for the as-of joins (rain window, satellite revisit)."""
    query = sql.SQL(EXOGENOUS_SQL).format(
        start_daily=sql.Literal((pd.Timestamp(start) - pd.Timedelta(days=5)).to_pydatetime()),
        start_satellite=sql.Literal((pd.Timestamp(start) - pd.Timedelta(days=45)).to_pydatetime()),
        end=sql.Literal(pd.Timestamp(end).to_pydatetime()),
        station_filter=_station_filter(stations),
    )
    return _copy_frame(warehouse, query, ["station_id", "parameter", "ts", "value"])
