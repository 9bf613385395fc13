"""Restore drill: backup -> drop -> restore gives identical row counts and the pipeline carries on.

Real PostgreSQL/TimescaleDB, real pg_dump/pg_restore, a real Dagster instance whose storage is a scratch
PostgreSQL database (never purehealth_dagster). On TimescaleDB Community one chunk is compressed before the
backup, so the restore of compressed chunks is exercised too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from purehealth_pipelines import cli
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.backup import (
    BackupError,
    backup,
    backups_to_prune,
    compare_counts,
    null_compressed_as_null,
    restore,
    split_compressed_data_entries,
    table_counts,
)
from purehealth_pipelines.warehouse.migrate import migrate, timescaledb_license

from .conftest import create_test_database, drop_test_database

DAY = datetime(2024, 2, 5, tzinfo=UTC)
DIGEST = """SELECT md5(string_agg(concat_ws('|', station_id, parameter, ts, source, value, unit, censored,
                                          qc_flag, quality), ',' ORDER BY station_id, parameter, ts, source))
              FROM core.readings"""


def readings(start: datetime, days: int, value: float) -> pd.DataFrame:
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    frame = pd.MultiIndex.from_product(
        [["T-BKP-1", "T-BKP-2"], ["do_mg_l", "ph"], ts], names=["station_id", "parameter", "ts"]
    ).to_frame(index=False)
    return frame.assign(source="iot", value=value, unit="mg/L", qc_flag=1)


def drop(admin_url: str, url: str) -> None:
    drop_test_database(admin_url, url)
    with psycopg.connect(admin_url) as conn:
        name = conninfo_to_dict(url)["dbname"]
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0


def dagster_instance(home: Path, url: str) -> dg.DagsterInstance:
    params = conninfo_to_dict(url)
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://"
        f"{params['user']}:{params['password']}@{params['host']}:{params.get('port', 5432)}"
        f"/{params['dbname']}\n"
        "telemetry:\n  enabled: false\n"
    )
    return dg.DagsterInstance.from_config(str(home))


@dg.asset
def drill_asset() -> int:
    return 1


def test_backup_drop_restore_then_carry_on(admin_url: str, tmp_path: Path) -> None:
    warehouse_url = create_test_database(admin_url, migrated=True)
    dagster_url = create_test_database(admin_url, migrated=False)  # a scratch Dagster database
    try:
        wh = WarehouseResource(url=warehouse_url)
        for week in range(3):
            start = DAY + timedelta(weeks=week)
            wh.write_partition(
                "core.readings", readings(start, 2, float(week)), start, start + timedelta(days=2)
            )
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            if timescaledb_license(conn) == "timescale":
                conn.execute(
                    "SELECT compress_chunk(show_chunks('core.readings', older_than => %s))",
                    (DAY + timedelta(days=7),),
                )
        with dagster_instance(tmp_path / "dh", dagster_url) as instance:
            assert dg.materialize([drill_asset], instance=instance).success
            runs_before = len(instance.get_runs())
        with psycopg.connect(warehouse_url) as conn:
            before = table_counts(conn, "warehouse")
            digest_before = conn.execute(DIGEST).fetchone()[0]
        with psycopg.connect(dagster_url) as conn:
            dagster_before = table_counts(conn, "dagster")
        assert before["core.readings"] == 3 * 2 * 24 * 4

        backups = tmp_path / "backups"
        args = ["db", "backup", "--dir", str(backups), "--url", warehouse_url, "--dagster-url", dagster_url]
        assert cli.main(args) == 0
        dumps = sorted(backups.glob("*.dump"))
        assert [d.name.split("-")[0] for d in dumps] == ["dagster", "warehouse"]
        assert all(d.with_suffix(".json").exists() for d in dumps)

        drop(admin_url, warehouse_url)
        drop(admin_url, dagster_url)
        restore_args = [
            "db",
            "restore",
            *map(str, dumps),
            "--url",
            warehouse_url,
            "--dagster-url",
            dagster_url,
        ]
        assert cli.main(restore_args) == 0

        with psycopg.connect(warehouse_url) as conn:
            after = table_counts(conn, "warehouse")
            hypertable_chunks = conn.execute("SELECT count(*) FROM show_chunks('core.readings')").fetchone()[
                0
            ]
            restoring = conn.execute("SHOW timescaledb.restoring").fetchone()[0]
            digest_after = conn.execute(DIGEST).fetchone()[0]
        with psycopg.connect(dagster_url) as conn:
            dagster_after = table_counts(conn, "dagster")
        assert after == before and compare_counts(before, after) == {}
        assert digest_after == digest_before  # the values too, compressed chunks included
        assert dagster_after == dagster_before
        assert hypertable_chunks >= 3 and restoring == "off"

        # The pipeline carries on: migrations see nothing to do, a new partition lands, a rewrite replaces.
        assert migrate(warehouse_url).applied == []
        start = DAY + timedelta(weeks=4)
        write = wh.write_partition("core.readings", readings(start, 1, 9.0), start, start + timedelta(days=1))
        assert write.rows_written == 2 * 2 * 24
        again = wh.write_partition("core.readings", readings(DAY, 2, 7.0), DAY, DAY + timedelta(days=2))
        assert again.rows_deleted == again.rows_written == 2 * 2 * 48
        with dagster_instance(tmp_path / "dh", dagster_url) as instance:
            assert len(instance.get_runs()) == runs_before
            assert dg.materialize([drill_asset], instance=instance).success
            assert len(instance.get_runs()) == runs_before + 1

        # A restore never overwrites: the warehouse now exists and holds tables.
        before_refusal = count_readings(warehouse_url)
        with pytest.raises(BackupError, match="never overwrites"):
            restore(next(d for d in dumps if d.name.startswith("warehouse")), warehouse_url)
        assert count_readings(warehouse_url) == before_refusal
    finally:
        drop_test_database(admin_url, warehouse_url)
        drop_test_database(admin_url, dagster_url)


def count_readings(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM core.readings").fetchone()[0]


def test_backup_keep_prunes_only_older_backups_of_the_same_database(admin_url: str, tmp_path: Path) -> None:
    url = create_test_database(admin_url, migrated=False)
    database = conninfo_to_dict(url)["dbname"]
    older = [tmp_path / f"dagster-{database}-2020010{d}T000000Z.dump" for d in (1, 2)]
    for path in older:
        path.write_bytes(b"")
        path.with_suffix(".json").write_text("{}")
    others = [tmp_path / "notes.txt", tmp_path / "warehouse-otherdb-20200101T000000Z.dump"]
    for path in others:
        path.write_text("not ours to delete")
    try:
        made = backup(url, tmp_path, "dagster", keep=2)
    finally:
        drop_test_database(admin_url, url)
    left = {p.name for p in tmp_path.iterdir()}
    assert older[0].name not in left and older[0].with_suffix(".json").name not in left
    assert {older[1].name, made.path.name, made.manifest_path.name} <= left
    assert {p.name for p in others} <= left


def test_backups_to_prune_keeps_the_newest_per_kind_and_database() -> None:
    names = [
        "warehouse-purehealth-20261201T000000Z.dump",
        "warehouse-purehealth-20261203T000000Z.dump",
        "warehouse-purehealth-20261202T000000Z.dump",
        "dagster-purehealth_dagster-20261201T000000Z.dump",
        "warehouse-purehealth-20261201T000000Z.json",
        "README",
    ]
    assert backups_to_prune(names, 2) == ["warehouse-purehealth-20261201T000000Z.dump"]
    assert backups_to_prune(names, 1) == [
        "warehouse-purehealth-20261201T000000Z.dump",
        "warehouse-purehealth-20261202T000000Z.dump",
    ]
    with pytest.raises(ValueError):
        backups_to_prune(names, 0)


def test_restore_refuses_a_file_without_its_manifest(tmp_path: Path) -> None:
    dump = tmp_path / "warehouse-x-20261201T000000Z.dump"
    dump.write_bytes(b"PGDMP")
    with pytest.raises(BackupError, match="is missing"):
        restore(dump, "postgresql://nobody@127.0.0.1:1/x")


def test_compressed_chunk_data_is_split_out_and_null_blocks_become_null() -> None:
    toc = (
        ";\n; Archive created at 2026-12-07\n"
        "344; 1259 22730 TABLE _timescaledb_internal compress_hyper_4_4_chunk purehealth\n"
        "4559; 0 22730 TABLE DATA _timescaledb_internal compress_hyper_4_4_chunk purehealth\n"
        "4560; 0 22700 TABLE DATA _timescaledb_internal _hyper_2_1_chunk purehealth\n"
    )
    listing, excluded = split_compressed_data_entries(toc)
    assert excluded == ["4559; 0 22730 TABLE DATA _timescaledb_internal compress_hyper_4_4_chunk purehealth"]
    assert ";4559; 0 22730 TABLE DATA" in listing and "\n4560; 0 22700 TABLE DATA" in listing
    assert "\n344; 1259 22730 TABLE _timescaledb" in listing  # the table itself is still created
    line, replaced = null_compressed_as_null("T-1\tdo_mg_l\tBg==\tBAAAAA==\tBg==x\t1\n")
    assert line == "T-1\tdo_mg_l\t\\N\tBAAAAA==\tBg==x\t1\n" and replaced == [2]
