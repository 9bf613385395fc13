"""Shared fixtures: real PostgreSQL/TimescaleDB and Mosquitto, started by `scripts/services.sh up`.

Every test session creates its own databases (`purehealth_test_<random>`) from the admin connection and drops
them at the end, so the suite never touches the demo's `purehealth` database and two runs cannot collide.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines import settings
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.migrate import migrate

SERVICES_HINT = "start the local services first: bash scripts/services.sh up"


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A connection to the server's maintenance database, used to create and drop test databases."""
    url = _with_dbname(settings.warehouse_url(), "postgres")
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url!r}: {exc}; {SERVICES_HINT}")
    return url


def create_test_database(admin_url: str, *, migrated: bool) -> str:
    name = f"purehealth_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(admin_url, name)
    if migrated:
        migrate(url)
        _pause_background_policies(url)
    return url


def _pause_background_policies(url: str) -> None:
    """On TimescaleDB Community, keep the migration's retention/compression policies but unschedule them.

    Tests write at fixed dates years back: a retention policy firing mid-test would drop those rows (90 days
    for raw.sensor_messages) and a compression policy would change chunks under the test. Tests that exercise
    compression or retention do it explicitly (compress_chunk, apply_retention). No-op on Apache.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_retention', 'policy_compression')"
        )


def drop_test_database(admin_url: str, url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _drop_broker_fragment(url)


def _drop_broker_fragment(url: str) -> None:
    """Sensor credentials a test warehouse issued (demo seeding, simulator) leave the broker with it."""
    from purehealth_pipelines.devices import broker

    fragment = settings.mqtt_auth_dir() / f"sensors.{broker.fragment_name(url)}.passwd"
    if fragment.exists():
        broker.remove_fragment(broker.fragment_name(url))


@pytest.fixture(scope="session")
def warehouse_url(admin_url: str) -> Iterator[str]:
    """A migrated warehouse database shared by the session (tests use their own stations/windows)."""
    url = create_test_database(admin_url, migrated=True)
    yield url
    drop_test_database(admin_url, url)


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A brand-new, unmigrated database for tests that need a clean slate (migrations, isolation)."""
    url = create_test_database(admin_url, migrated=False)
    yield url
    drop_test_database(admin_url, url)


@pytest.fixture(scope="module")
def module_warehouse_url(admin_url: str) -> Iterator[str]:
    """A migrated database private to one test module (for tests that count whole tables)."""
    url = create_test_database(admin_url, migrated=True)
    yield url
    drop_test_database(admin_url, url)


@pytest.fixture
def warehouse(warehouse_url: str) -> WarehouseResource:
    return WarehouseResource(url=warehouse_url)


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """The real Mosquitto broker as (host, port); fails with a hint if it is not running."""
    host, port = settings.mqtt_host(), settings.mqtt_port()
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"Mosquitto is not reachable at {host}:{port}: {exc}; {SERVICES_HINT}")
    return host, port


# Fixtures that reach the real services. A test using any of them (directly or through another fixture) is
# marked `services`; `make test-unit` runs the rest, which need nothing but the virtualenv.
SERVICE_FIXTURES = frozenset(
    {"admin_url", "warehouse_url", "empty_database_url", "module_warehouse_url", "warehouse", "mqtt_broker"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
