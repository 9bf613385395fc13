"""The pipeline and the bridge run as a non-superuser login in `purehealth_writer`, as a deployment should.

The demo's `purehealth` login is a superuser with a published password (a convenience); nothing the pipeline
or the bridge does may depend on that. This runs the paths that touch every kind of object — the bridge's
landing COPY and staging table, the partition writer over hypertables (new chunks included), QC scoring,
the marts with their sealed NOTIFY — as a fresh login that only has the writer role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines.marts.assets import alerts_asset, readings_hourly, station_status_asset
from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_window
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines_tests.quality.synthetic import DAY, sensor_frame
from realtime_bridge.simulator import reading_payload
from realtime_bridge.validation import TOPIC_PREFIX
from realtime_bridge.writer import BatchWriter, Inbound, copy_readings


@pytest.fixture(scope="module")
def writer_login_url(module_warehouse_url: str) -> Iterator[str]:
    name, password = f"pw_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(module_warehouse_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                " IN ROLE purehealth_writer"
            ).format(sql.Identifier(name), sql.Literal(password))
        )
    params = conninfo_to_dict(module_warehouse_url)
    params.update(user=name, password=password)
    yield make_conninfo(**params)
    with psycopg.connect(module_warehouse_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_pipeline_and_bridge_run_as_purehealth_writer(
    module_warehouse_url: str, writer_login_url: str
) -> None:
    with psycopg.connect(writer_login_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
        )
    with psycopg.connect(module_warehouse_url) as admin:  # reference data is loaded by the stations asset
        admin.execute("INSERT INTO ref.stations (station_id, name, network) VALUES ('IOT-W-1', 'w', 'IOT')")

    # The bridge: COPY into the landing table, the staging fallback for a redelivery, sealed NOTIFY.
    bridge = BatchWriter(writer_login_url, notify=True)
    bridge.connect()
    try:
        now = datetime.now(UTC)
        message = Inbound(
            f"{TOPIC_PREFIX}IOT-W-1/readings", reading_payload("", now, {"ph": 7.4, "do_mg_l": 6.5}), 1, 1, 1
        )
        assert bridge.write([message], now).rows_inserted == 2
        assert bridge.write([message], now).rows_inserted == 0  # redelivery through the staging table
    finally:
        bridge.close()

    # The pipeline: land a day of readings, score it into core.readings, build marts and alerts.
    warehouse = WarehouseResource(url=writer_login_url)
    with warehouse.connect() as conn, conn.cursor() as cur:
        copy_readings(cur, sensor_frame("IOT-W-1", seed=3))
    _, summary = score_window(warehouse, DAY, DAY + pd.Timedelta(days=1), load_config())
    assert summary.rows_written > 0
    result = dg.materialize(
        [readings_hourly, alerts_asset, station_status_asset],
        partition_key=str(DAY.date()),
        resources={"warehouse": warehouse},
    )
    assert result.success
    with warehouse.connect() as conn:
        assert (
            conn.execute("SELECT count(*) FROM mart.readings_hourly WHERE station_id = 'IOT-W-1'").fetchone()[
                0
            ]
            > 0
        )
        assert (
            conn.execute("SELECT count(*) FROM mart.station_latest WHERE station_id = 'IOT-W-1'").fetchone()[
                0
            ]
            > 0
        )
