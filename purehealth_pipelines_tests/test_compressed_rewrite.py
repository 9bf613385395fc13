"""Partition re-writes of windows older than the compression horizon, on both TimescaleDB editions.

On the Apache edition (Debian's, what `scripts/services.sh` installs) there is no compression: a re-write is
the plain replace and the first test is all that runs. On TimescaleDB Community (point
PUREHEALTH_WAREHOUSE_URL at such a server) the window's chunks are compressed first and the writer must get
through `timescaledb.max_tuples_decompressed_per_dml_transaction`; those tests skip with the reason elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.pipeline import score_window
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.compression import DECOMPRESSION_LIMIT_GUC, STRATEGIES
from purehealth_pipelines.warehouse.migrate import timescaledb_license
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import write_partition
from realtime_bridge.writer import copy_readings

from .conftest import create_test_database, drop_test_database
from .quality import synthetic

OLD = datetime(2024, 1, 1, tzinfo=UTC)  # far older than every compression horizon (30 days for core.readings)
WEEK = timedelta(days=7)
STATIONS = [f"T-CMP-{i:02d}" for i in range(6)]
LIMIT = 50  # a decompression limit far below one window, as the default 100,000 is below a real one


def window_frame(start: datetime, days: int, value: float) -> pd.DataFrame:
    ts = pd.date_range(start, periods=days * 24 * 4, freq="15min", tz="UTC")
    index = pd.MultiIndex.from_product(
        [STATIONS, ["do_mg_l", "ph"], ts], names=["station_id", "parameter", "ts"]
    )
    frame = index.to_frame(index=False)
    return frame.assign(source="iot", value=value + (frame.index % 97) / 100, unit="mg/L", qc_flag=1)


def stored(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT station_id, parameter, ts, source, value FROM core.readings"
            " WHERE ts >= %s AND ts < %s AND station_id LIKE 'T-CMP-%%' ORDER BY 1, 2, 3, 4",
            (start, end),
        ).fetchall()
    return pd.DataFrame(rows, columns=["station_id", "parameter", "ts", "source", "value"])


def compress_window(url: str, start: datetime, end: datetime) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('core.readings',"
                " older_than => %s::timestamptz, newer_than => %s::timestamptz) c",
                (end + WEEK, start - WEEK),
            ).fetchall()
        )


def compressed_chunks(url: str, start: datetime, end: datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
            " AND hypertable_schema = 'core' AND is_compressed AND range_start < %s AND range_end > %s",
            (end, start),
        ).fetchone()[0]


def test_old_window_rewritten_twice_gives_the_same_rows(warehouse: WarehouseResource) -> None:
    """Both editions: write, (Community: compress), re-write twice — the window holds exactly the new rows."""
    start, end = OLD, OLD + timedelta(days=2)
    warehouse.write_partition("core.readings", window_frame(start, 2, 1.0), start, end)
    with psycopg.connect(warehouse.url) as conn:
        community = timescaledb_license(conn) == "timescale"
    if community:
        assert compress_window(warehouse.url, start, end) >= 1
        assert compressed_chunks(warehouse.url, start, end) >= 1
    new = window_frame(start, 2, 5.0)
    first = warehouse.write_partition("core.readings", new, start, end)
    after_first = stored(warehouse.url, start, end)
    second = warehouse.write_partition("core.readings", new, start, end)
    after_second = stored(warehouse.url, start, end)
    assert (first.rows_deleted, first.rows_written) == (len(new), len(new))
    assert (second.rows_deleted, second.rows_written) == (len(new), len(new))
    pd.testing.assert_frame_equal(after_first, after_second)
    expected = new[["station_id", "parameter", "ts", "source", "value"]].sort_values(
        ["station_id", "parameter", "ts"], ignore_index=True
    )
    assert len(after_second) == len(expected)
    assert after_second["value"].round(6).tolist() == expected["value"].round(6).tolist()
    assert (first.compressed_chunks >= 1) == community


@pytest.fixture(scope="module")
def community_url(admin_url: str) -> Iterator[str]:
    """A private warehouse with a tiny decompression limit, on TimescaleDB Community only."""
    url = create_test_database(admin_url, migrated=True)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if timescaledb_license(conn) != "timescale":
                pytest.skip(
                    "needs TimescaleDB Community (timescaledb.license = 'timescale'): this server runs the"
                    " Apache-2 edition, which has no compression (there a re-write is the plain replace)"
                )
            dbname = conn.info.dbname
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(dbname), sql.SQL(DECOMPRESSION_LIMIT_GUC), sql.Literal(LIMIT)
                )
            )
        yield url
    finally:
        drop_test_database(admin_url, url)


def test_plain_delete_over_compressed_chunks_hits_the_limit(community_url: str) -> None:
    """The failure seen on the Community build, reproduced: what the writer has to get through."""
    start, end = OLD + 3 * WEEK, OLD + 3 * WEEK + timedelta(days=1)
    with psycopg.connect(community_url, autocommit=True) as conn:
        write_partition(conn, "core.readings", window_frame(start, 1, 1.0), start, end)
    compress_window(community_url, start, end)
    with psycopg.connect(community_url) as conn, pytest.raises(psycopg.errors.ConfigurationLimitExceeded):
        conn.execute("DELETE FROM core.readings WHERE ts >= %s AND ts < %s", (start, end))


# (strategy, window start, days): a window inside a chunk, and one covering a whole 7-day chunk (`auto` then
# decompresses that chunk; core.readings' chunks start on Thursdays, 2024-01-04 is one).
CASES = {
    "lift_limit": (OLD + 6 * WEEK, 2),
    "decompress": (OLD + 9 * WEEK, 2),
    "auto": (datetime(2024, 1, 4, tzinfo=UTC) + 12 * WEEK, 7),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_writer_rewrites_compressed_window_and_policy_can_recompress(
    community_url: str, strategy: str
) -> None:
    start, days = CASES[strategy]
    end = start + timedelta(days=days)
    with psycopg.connect(community_url, autocommit=True) as conn:
        write_partition(conn, "core.readings", window_frame(start, days, 1.0), start, end)
    assert compress_window(community_url, start, end) >= 1
    before = stored(community_url, start, end)

    # A write that fails half-way (a column the table lacks) rolls back the decompression with it.
    broken = window_frame(start, days, 9.0).assign(no_such_column=1)
    with (
        psycopg.connect(community_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.UndefinedColumn),
    ):
        write_partition(conn, "core.readings", broken, start, end, compressed=strategy)
    pd.testing.assert_frame_equal(stored(community_url, start, end), before)
    assert compressed_chunks(community_url, start, end) >= 1

    new = window_frame(start, days, 5.0)
    results = []
    for _ in range(2):
        with psycopg.connect(community_url, autocommit=True) as conn:
            results.append(write_partition(conn, "core.readings", new, start, end, compressed=strategy))
        results.append(stored(community_url, start, end))
        # lift_limit leaves the chunk partly compressed; decompress (and auto on a covered chunk) fully not
        assert (compressed_chunks(community_url, start, end) > 0) == (strategy == "lift_limit")
        compress_window(community_url, start, end)  # what the compression policy does on its next run
        assert compressed_chunks(community_url, start, end) >= 1
    first, after_first, second, after_second = results
    assert first.compressed_chunks >= 1 and second.compressed_chunks >= 1
    assert first.rows_deleted == second.rows_deleted == len(new)
    pd.testing.assert_frame_equal(after_first, after_second)
    assert sorted(after_second["value"].round(6)) == sorted(new["value"].round(6))
    assert stored(community_url, start, end).equals(after_second)  # recompressed: same rows


def test_migrations_configure_compression_and_retention_by_edition(warehouse_url: str) -> None:
    """Community: every large time-series table compressed, retention installed by the migration itself
    (no maintenance run needed). Apache: neither exists, and migrating did not fail."""
    large = {
        "core.readings",
        "raw.sensor_messages",
        "mart.readings_hourly",
        "mart.readings_daily",
        "mart.forecasts",
        "ml.forecast_features",
    }
    with psycopg.connect(warehouse_url) as conn:
        license_ = timescaledb_license(conn)
        settings = conn.execute(
            "SELECT hypertable_schema || '.' || hypertable_name, attname, segmentby_column_index,"
            " orderby_column_index FROM timescaledb_information.compression_settings"
        ).fetchall()
        jobs = conn.execute(
            "SELECT proc_name, hypertable_schema || '.' || hypertable_name FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_compression', 'policy_retention')"
        ).fetchall()
        keep = dict(conn.execute("SELECT table_name, keep FROM ops.retention_policies").fetchall())
    if license_ != "timescale":
        assert settings == [] and jobs == []
        return
    compressed = {table for table, *_ in settings}
    assert large <= compressed
    segmented = {(t, a) for t, a, seg, _ in settings if seg is not None}
    for table in large - {"raw.sensor_messages"}:
        assert (table, "station_id") in segmented and (table, "parameter") in segmented
    # every unique-key column is covered (no silent full decompression to check the key)
    assert ("core.readings", "source") in {(t, a) for t, a, _, o in settings if o is not None}
    assert {t for p, t in jobs if p == "policy_compression"} >= large
    assert {t for p, t in jobs if p == "policy_retention"} == {t for t, k in keep.items() if k is not None}


def test_core_readings_asset_scores_the_same_day_twice_over_compressed_chunks(community_url: str) -> None:
    """Issue 17's failing step: `core/readings` re-run over a day whose raw and core chunks are compressed
    (decompression limit 50 in this database), twice — same rows both times."""
    wh = WarehouseResource(url=community_url)
    day, end = synthetic.DAY, synthetic.DAY + pd.Timedelta(days=1)
    with wh.connect() as conn, conn.cursor() as cur:
        copy_readings(cur, synthetic.sensor_frame("IOT-T-CMP", seed=5))
    config = load_config()
    score_window(wh, day, end, config)
    with psycopg.connect(community_url, autocommit=True) as conn:
        compressed = conn.execute(
            "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM"
            " (SELECT show_chunks('core.readings') AS c"
            "  UNION ALL SELECT show_chunks('raw.sensor_messages')) s"
        ).fetchone()[0]
    assert compressed >= 2
    runs = []
    for _ in range(2):
        _, summary = score_window(wh, day, end, config)
        with wh.connect() as conn:
            runs.append(
                read_frame(
                    conn, "SELECT * FROM core.readings WHERE station_id = 'IOT-T-CMP' ORDER BY parameter, ts"
                ).drop(columns=["ingested_at"])
            )
        assert summary.rows_written == summary.rows_replaced == len(runs[-1]) > 0
    pd.testing.assert_frame_equal(runs[0], runs[1])
