"""Process-wide settings read from the environment, with defaults that match `scripts/services.sh`.

One place for every connection string and tunable, so the CLI, the Dagster code location, the bridge and
the tests agree on where the warehouse and the broker are.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WAREHOUSE_URL = "postgresql://purehealth:purehealth@127.0.0.1:5432/purehealth"
# dagster-postgres needs the psycopg2 driver named explicitly under SQLAlchemy 2.1 (stack_notes.md).


def warehouse_url() -> str:
    """The warehouse (TimescaleDB) connection URL: `PUREHEALTH_WAREHOUSE_URL`, else the local default."""
    return os.environ.get("PUREHEALTH_WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL)


def mqtt_host() -> str:
    return os.environ.get("PUREHEALTH_MQTT_HOST", "127.0.0.1")


def mqtt_port() -> int:
    return int(os.environ.get("PUREHEALTH_MQTT_PORT", "1883"))


def analyst_password() -> str:
    """Password given to the `analyst` login role by `purehealth db migrate` (change it outside a laptop)."""
    return os.environ.get("PUREHEALTH_ANALYST_PASSWORD", "analyst")


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
