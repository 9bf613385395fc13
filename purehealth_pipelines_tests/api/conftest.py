"""A warehouse with the real station registry and a year of one live station's data, for the API tests.

Data is written as the pipeline's writer (the test database owner); the API reads it as the analyst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from purehealth_pipelines.api.db import analyst_url
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.warehouse.writer import copy_frame

LIVE = "IOT-PUNE-MULA-01"
LAB = "NWMP-1192"
PARAMETERS = {"do_mg_l": "mg/L", "ph": "pH units", "temp_c": "°C"}


@dataclass(frozen=True)
class Seeded:
    url: str  # writer (owner)
    analyst_url: str
    now: datetime
    hours: int


def seed(url: str, now: datetime | None = None) -> Seeded:
    """Registry + a year of hourly rollups, a day of raw readings, latest values, WQI, alerts, forecasts."""
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    warehouse = WarehouseResource(url=url)
    warehouse.replace_table("ref.stations", load_registry())
    rng = np.random.default_rng(14)
    hours = 366 * 24
    buckets = pd.date_range(end=now - timedelta(hours=1), periods=hours, freq="h", tz="UTC")
    hourly = []
    for parameter, unit in PARAMETERS.items():
        base = {"do_mg_l": 6.5, "ph": 7.4, "temp_c": 26.0}[parameter]
        values = base + 0.5 * np.sin(np.arange(hours) * 2 * np.pi / 24) + rng.normal(0, 0.05, hours)
        hourly.append(
            pd.DataFrame(
                {
                    "station_id": LIVE,
                    "parameter": parameter,
                    "bucket": buckets,
                    "unit": unit,
                    "value_mean": values,
                    "value_min": values - 0.2,
                    "value_max": values + 0.2,
                    "good_count": 12,
                    "reading_count": 12,
                }
            )
        )
    hourly_frame = pd.concat(hourly, ignore_index=True)
    raw_ts = pd.date_range(end=now - timedelta(minutes=5), periods=24 * 12, freq="5min", tz="UTC")
    raw = pd.DataFrame(
        {
            "station_id": LIVE,
            "parameter": "do_mg_l",
            "ts": raw_ts,
            "source": "iot",
            "value": 6.5 + rng.normal(0, 0.1, len(raw_ts)),
            "unit": "mg/L",
            "qc_flag": np.where(np.arange(len(raw_ts)) % 50 == 7, 3, 1).astype("int16"),
        }
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        copy_frame(cur, "mart.readings_hourly", hourly_frame)
        copy_frame(cur, "core.readings", raw)
        cur.execute(
            """INSERT INTO mart.station_latest
                   (station_id, parameter, ts, value, unit, source, qc_flag, quality)
               VALUES (%(s)s, 'do_mg_l', %(ts)s, 6.4, 'mg/L', 'iot', 1, 'good'),
                      (%(s)s, 'ph', %(ts)s, 7.3, 'pH units', 'iot', 3, 'suspect'),
                      (%(lab)s, 'bod_mg_l', %(day)s, 2.1, 'mg/L', 'cpcb_nwmp_mean', 1, 'good')""",
            {"s": LIVE, "lab": LAB, "ts": now - timedelta(minutes=5), "day": now - timedelta(days=40)},
        )
        cur.execute(
            """INSERT INTO mart.station_wqi_daily (station_id, day, wqi, wqi_label, wqi_class, best_use_class,
                                                   do_saturation_method, good_readings)
               SELECT %s, d, 70 + 5 * sin(extract(doy FROM d)), 'Medium to Good', 'B', 'B', 'fixed', 100
                 FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 day') d""",
            (LIVE, now - timedelta(days=60), now - timedelta(days=1)),
        )
        cur.execute(
            """INSERT INTO mart.alerts (station_id, parameter, rule, severity, status, first_seen, last_seen,
                                        resolved_at, last_value, worst_value, threshold, message, updated_at)
               VALUES (%(s)s, 'do_mg_l', 'do_below_4', 'critical', 'open', %(a)s, %(b)s, NULL, 3.6, 3.1,
                       '< 4', 'DO below 4 mg/L', %(b)s),
                      (%(s)s, 'ph', 'ph_outside_6_5_8_5', 'warning', 'resolved', %(c)s, %(c)s, %(a)s,
                       8.7, 8.9, '6.5-8.5', 'pH outside 6.5-8.5', %(a)s)""",
            {
                "s": LIVE,
                "a": now - timedelta(hours=3),
                "b": now - timedelta(hours=1),
                "c": now - timedelta(days=2),
            },
        )
        issued = now - timedelta(minutes=15)
        cur.executemany(
            """INSERT INTO mart.forecasts (station_id, parameter, issued_at, horizon_h, ts, origin_ts,
                                           p10, p50, p90, station_group, model_version)
               VALUES (%s, 'do_mg_l', %s, %s, %s, %s, %s, %s, %s, 'live', 'test-1')""",
            [
                (LIVE, issued, h, now + timedelta(hours=h), now, 5.5 - 0.01 * h, 6.2, 6.9 + 0.01 * h)
                for h in range(1, 25)
            ],
        )
    return Seeded(url=url, analyst_url=analyst_url(url), now=now, hours=hours)


@pytest.fixture(scope="module")
def seeded(module_warehouse_url: str) -> Seeded:
    return seed(module_warehouse_url)
