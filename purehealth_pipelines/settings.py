"""Process-wide settings read from the environment, with defaults that match `scripts/services.sh`.

One place for every connection string and tunable, so the CLI, the Dagster code location, the bridge and
the tests agree on where the warehouse and the broker are.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WAREHOUSE_URL = "postgresql://purehealth:purehealth@127.0.0.1:5432/purehealth"
# dagster-postgres needs the psycopg2 driver named explicitly under SQLAlchemy 2.1 (docs/stack_notes.md).


def warehouse_url() -> str:
    """The warehouse (TimescaleDB) connection URL: `PUREHEALTH_WAREHOUSE_URL`, else the local default."""
    return os.environ.get("PUREHEALTH_WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL)


def mqtt_host() -> str:
    return os.environ.get("PUREHEALTH_MQTT_HOST", "127.0.0.1")


def mqtt_port() -> int:
    return int(os.environ.get("PUREHEALTH_MQTT_PORT", "1883"))


def mqtt_bridge_credentials() -> tuple[str, str]:
    """The bridge's broker login (subscribe-only ACL); the default is what scripts/services.sh provisions."""
    return (
        os.environ.get("PUREHEALTH_MQTT_BRIDGE_USERNAME", "purehealth-bridge"),
        os.environ.get("PUREHEALTH_MQTT_BRIDGE_PASSWORD", "purehealth-bridge-local"),
    )


def mqtt_tools_credentials() -> tuple[str, str]:
    """The login of local tools, tests and benches: publish/subscribe under `test/#` and `bench/#` only
    (scripts/services.sh provisions it), so they never reach a real station's topics.
    """
    return (
        os.environ.get("PUREHEALTH_MQTT_TOOLS_USERNAME", "purehealth-tools"),
        os.environ.get("PUREHEALTH_MQTT_TOOLS_PASSWORD", "purehealth-tools-local"),
    )


def mqtt_auth_dir() -> Path:
    """Where the broker's password/ACL files and their fragments live (scripts/services.sh creates it)."""
    return Path(os.environ.get("PUREHEALTH_MQTT_AUTH_DIR", "/etc/mosquitto/purehealth"))


def mqtt_pid_file() -> Path:
    """The broker's pid file (Debian's mosquitto.conf), to SIGHUP it after the auth files change."""
    return Path(os.environ.get("PUREHEALTH_MQTT_PID_FILE", "/run/mosquitto/mosquitto.pid"))


def analyst_password() -> str:
    """Password given to the `analyst` login role by `purehealth db migrate` (change it outside a laptop)."""
    return os.environ.get("PUREHEALTH_ANALYST_PASSWORD", "analyst")


def alert_api_password() -> str:
    """Password of the `alert_api` login: the API writer for alert actions (PUREHEALTH_ALERT_API_PASSWORD)."""
    return os.environ.get("PUREHEALTH_ALERT_API_PASSWORD", "alert_api")


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def use_project_dagster_instance() -> None:
    """Point Dagster at the project's instance (dagster.yaml in the project root, storage in PostgreSQL)
    unless the environment already says otherwise — what the Makefile exports, for commands run without it.
    """
    os.environ.setdefault("DAGSTER_HOME", str(project_root()))


def shared_data_dir() -> Path:
    """Where the real public data files live (`../shared/data` beside the project), overridable."""
    return Path(os.environ.get("PUREHEALTH_SHARED_DATA", project_root().parent / "shared" / "data"))


def dashboard_url() -> str:
    """Base URL of the dashboard / read API that alert messages link to (`PUREHEALTH_DASHBOARD_URL`)."""
    return os.environ.get("PUREHEALTH_DASHBOARD_URL", "http://127.0.0.1:8080")


def dagster_url() -> str:
    """Base URL of the Dagster UI that run-failure messages link to (`PUREHEALTH_DAGSTER_URL`)."""
    return os.environ.get("PUREHEALTH_DAGSTER_URL", "http://127.0.0.1:3000")


def ingest_database_url() -> str:
    """The HTTP ingest's writer login (`PUREHEALTH_INGEST_DATABASE_URL`, default: the warehouse URL).

    Whatever login this is, the ingest sessions `SET ROLE purehealth_ingest` (migration 1100), so the
    login must be a member of that role (the warehouse owner is; a deployment creates e.g.
    `CREATE ROLE ingest LOGIN PASSWORD '…' IN ROLE purehealth_ingest`). The read API keeps the analyst.
    """
    return os.environ.get("PUREHEALTH_INGEST_DATABASE_URL") or warehouse_url()


def ingest_pool_size() -> int:
    """Writer connections of the HTTP ingest (`PUREHEALTH_INGEST_POOL_SIZE`, default 2: one per core here)."""
    return int(os.environ.get("PUREHEALTH_INGEST_POOL_SIZE", "2"))


def ingest_rate_per_s() -> float:
    """Per-sensor sustained ingest rate in messages/s (`PUREHEALTH_INGEST_RATE`, default 5).

    A field sensor reports every few seconds to minutes; 5/s leaves room for catching up on a backlog.
    """
    return float(os.environ.get("PUREHEALTH_INGEST_RATE", "5"))


def ingest_burst() -> float:
    """Per-sensor token-bucket size in messages (`PUREHEALTH_INGEST_BURST`, default 1000): one full batch
    of a backlog upload passes at once, then the sensor is held to the sustained rate."""
    return float(os.environ.get("PUREHEALTH_INGEST_BURST", "1000"))
