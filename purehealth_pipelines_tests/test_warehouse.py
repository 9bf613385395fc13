"""The warehouse foundation against real PostgreSQL + TimescaleDB: migrations, partition writer, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.migrate import available_migrations, migrate
from purehealth_pipelines.warehouse.retention import apply_retention
from realtime_bridge.writer import copy_readings

DAY = datetime(2024, 4, 1, tzinfo=UTC)


def readings(station: str, start: datetime, hours: int, value: float, source: str = "iot") -> pd.DataFrame:
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "station_id": station,
            "parameter": "do_mg_l",
            "ts": ts,
            "source": source,
            "value": value,
            "unit": "mg/L",
            "qc_flag": 2,
        }
    )


def count(url: str, query: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_migrate_twice_changes_nothing_the_second_time(empty_database_url: str) -> None:
    first = migrate(empty_database_url)
    assert first.applied == [f"{m.version}_{m.name}" for m in available_migrations()]
    tables_before = count(empty_database_url, "SELECT count(*) FROM information_schema.tables")
    second = migrate(empty_database_url)
    assert second.applied == []
    assert second.already_applied == first.applied
    assert count(empty_database_url, "SELECT count(*) FROM information_schema.tables") == tables_before
    assert first.timescaledb_license in {"apache", "timescale"}


def test_timescaledb_present_and_time_series_tables_are_hypertables(warehouse_url: str) -> None:
    assert count(warehouse_url, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 1
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT hypertable_schema || '.' || hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
    assert {"raw.sensor_messages", "core.readings"} <= {r[0] for r in rows}


def test_partition_rerun_replaces_instead_of_duplicating(warehouse: WarehouseResource) -> None:
    end = DAY + timedelta(days=1)
    first = warehouse.write_partition("core.readings", readings("T-RERUN", DAY, 24, 5.0), DAY, end)
    assert (first.rows_written, first.rows_deleted) == (24, 0)
    second = warehouse.write_partition("core.readings", readings("T-RERUN", DAY, 24, 6.0), DAY, end)
    assert (second.rows_written, second.rows_deleted) == (24, 24)
    stored = warehouse.read_frame("SELECT value FROM core.readings WHERE station_id = 'T-RERUN'")
    assert len(stored) == 24 and set(stored["value"]) == {6.0}


def test_partition_write_leaves_neighbouring_windows_and_other_scopes_alone(
    warehouse: WarehouseResource,
) -> None:
    day2 = DAY + timedelta(days=1)
    warehouse.write_partition(
        "core.readings", readings("T-SCOPE", DAY, 48, 1.0, "iot"), DAY, day2 + timedelta(1)
    )
    warehouse.write_partition(
        "core.readings", readings("T-SCOPE", DAY, 24, 2.0, "cwc"), DAY, day2, scope={"source": "cwc"}
    )
    # Re-write only the cwc rows of day 1, with fewer rows: the iot rows of both days stay.
    warehouse.write_partition(
        "core.readings", readings("T-SCOPE", DAY, 12, 3.0, "cwc"), DAY, day2, scope={"source": "cwc"}
    )
    got = warehouse.read_frame(
        "SELECT source, count(*) AS n, max(value) AS v FROM core.readings WHERE station_id = 'T-SCOPE' "
        "GROUP BY source ORDER BY source"
    )
    assert got.to_dict("records") == [
        {"source": "cwc", "n": 12, "v": 3.0},
        {"source": "iot", "n": 48, "v": 1.0},
    ]


def test_failed_partition_write_leaves_previous_data_intact(warehouse: WarehouseResource) -> None:
    end = DAY + timedelta(days=1)
    warehouse.write_partition("core.readings", readings("T-ATOMIC", DAY, 24, 7.0), DAY, end)
    broken = readings("T-ATOMIC", DAY, 24, 8.0)
    broken = pd.concat([broken, broken.iloc[[3]]])  # a duplicate key makes COPY fail after the DELETE ran
    with pytest.raises(psycopg.errors.UniqueViolation):
        warehouse.write_partition("core.readings", broken, DAY, end)
    stored = warehouse.read_frame("SELECT value FROM core.readings WHERE station_id = 'T-ATOMIC'")
    assert len(stored) == 24 and set(stored["value"]) == {7.0}


def test_rows_outside_the_window_are_refused_before_anything_changes(warehouse: WarehouseResource) -> None:
    end = DAY + timedelta(days=1)
    warehouse.write_partition("core.readings", readings("T-WINDOW", DAY, 24, 1.0), DAY, end)
    with pytest.raises(ValueError, match="outside the partition window"):
        warehouse.write_partition("core.readings", readings("T-WINDOW", DAY, 25, 2.0), DAY, end)
    with pytest.raises(ValueError, match="timezone-aware"):
        warehouse.write_partition(
            "core.readings", readings("T-WINDOW", DAY, 1, 2.0), datetime(2024, 4, 1), end
        )
    assert (
        count(warehouse.url, "SELECT count(*) FROM core.readings WHERE station_id = 'T-WINDOW' AND value = 1")
        == 24
    )


def test_partition_writer_quotes_identifiers(warehouse: WarehouseResource) -> None:
    with pytest.raises(ValueError, match=r"schema\.table"):
        warehouse.write_partition(
            "core.readings; DROP TABLE ref.stations", readings("X", DAY, 1, 1.0), DAY, DAY + timedelta(1)
        )
    hostile = readings("X", DAY, 1, 1.0).rename(columns={"ts": "ts; DROP TABLE ref.stations"})
    with pytest.raises(psycopg.errors.UndefinedColumn):
        warehouse.write_partition(
            "core.readings", hostile, DAY, DAY + timedelta(1), time_column="ts; DROP TABLE ref.stations"
        )
    assert (
        count(warehouse.url, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stations'")
        == 1
    )


def _as_analyst(url: str) -> str:
    params = conninfo_to_dict(url)
    params.update(user="analyst", password="analyst")
    return make_conninfo(**params)


def test_analyst_role_reads_ref_core_mart_but_cannot_write(warehouse_url: str) -> None:
    with psycopg.connect(_as_analyst(warehouse_url), autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM core.readings").fetchone()
        conn.execute("SELECT count(*) FROM ref.parameters").fetchone()
        # Sessions start read-only and bounded (a runaway BI query cannot hold the warehouse)...
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM ref.stations")
        # ...but a session can lift that default, so the privileges are what really keep analysts out.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO core.readings (station_id, parameter, ts, source, value, unit) "
                "VALUES ('X', 'ph', now(), 'iot', 7, 'pH units')"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM ref.stations")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM ops.dead_letters")


def test_analyst_can_read_tables_created_by_later_migrations(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mart.t_later_table (x int)")
    try:
        with psycopg.connect(_as_analyst(warehouse_url)) as conn:
            assert conn.execute("SELECT count(*) FROM mart.t_later_table").fetchone()[0] == 0
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("DROP TABLE mart.t_later_table")


def test_retention_drops_only_expired_sensor_chunks(module_warehouse_url: str) -> None:
    wh = WarehouseResource(url=module_warehouse_url)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    old, recent = now - timedelta(days=200), now - timedelta(days=2)
    with psycopg.connect(module_warehouse_url) as conn, conn.cursor() as cur:
        for start in (old, recent):
            copy_readings(cur, readings("T-RET", start, 3, 1.0).drop(columns=["source", "qc_flag"]))
    with psycopg.connect(module_warehouse_url, autocommit=True) as conn:
        actions = {a.table: a for a in apply_retention(conn)}
    assert (
        actions["raw.sensor_messages"].chunks_dropped >= 1
        or actions["raw.sensor_messages"].method == "policy"
    )
    if actions["raw.sensor_messages"].method == "drop_chunks":
        left = wh.read_frame("SELECT min(ts) AS first FROM raw.sensor_readings WHERE station_id = 'T-RET'")
        assert left["first"].iloc[0] >= recent
    assert actions["core.readings"].method == "keep forever"


def test_every_column_analysts_and_operators_read_has_a_description(warehouse_url: str) -> None:
    """Column COMMENTs are the one home of column descriptions (psql \\d+, BI tools, Dagster's schemas)."""
    with psycopg.connect(warehouse_url) as conn:
        missing = conn.execute(
            """SELECT n.nspname || '.' || c.relname || '.' || a.attname
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('raw', 'core', 'mart', 'ml', 'ref') AND c.relkind IN ('r', 'p')
                  AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
                  AND NOT (c.relname = 'forecast_features'
                           AND a.attname NOT IN ('station_id', 'parameter', 'ts'))
                ORDER BY 1"""
        ).fetchall()
    assert [m[0] for m in missing] == [], ", ".join(m[0] for m in missing)
