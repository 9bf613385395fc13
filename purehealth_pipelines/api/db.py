"""The API's only way into the warehouse: a small pool of read-only `analyst` sessions with a short timeout.

Why the analyst login and not the pipeline's writer: the API faces people and the network; whatever a bug
or a crafted parameter makes it run, the database itself refuses writes (the role has SELECT on ref, core
and mart only, and `default_transaction_read_only`), and cannot read raw or ops (the NOTIFY sealing key)
— bar ops.ws_ticket_keys, which signs the dashboard's read-only WebSocket tickets (live/tickets.py).
On top of the role's own 60 s, each API session sets a shorter `statement_timeout` so a slow query frees its
pool slot quickly; the endpoints bound their windows and row counts as well (app.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from purehealth_pipelines import settings

API_URL_ENV = "PUREHEALTH_API_DATABASE_URL"
DEFAULT_STATEMENT_TIMEOUT_MS = 10_000


def analyst_url(warehouse_url: str | None = None) -> str:
    """`PUREHEALTH_API_DATABASE_URL`, else the warehouse URL with the analyst login's user and password."""
    configured = os.environ.get(API_URL_ENV)
    if configured and warehouse_url is None:
        return configured
    params = conninfo_to_dict(warehouse_url or settings.warehouse_url())
    params.update(user="analyst", password=settings.analyst_password())
    return make_conninfo(**params)


class ReadOnlyViolation(RuntimeError):
    """The API was pointed at a login that may write; it refuses to serve through it."""


class Database:
    """A connection pool whose sessions are verified read-only and time-bounded."""

    def __init__(
        self, url: str, *, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS, max_size: int = 8
    ) -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "application_name": "purehealth-api"},
            configure=self._configure,
            check=ConnectionPool.check_connection,
            timeout=10,
        )

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET TIME ZONE 'UTC'")

    def open(self) -> None:
        """Open the pool and prove the login is read-only: a login that could write is refused."""
        self.pool.open(wait=True, timeout=15)
        with self.connection() as conn:
            role = conn.execute("SELECT current_user").fetchone()[0]
            can_write = conn.execute(
                """SELECT bool_or(has_table_privilege(current_user, c.oid, 'INSERT,UPDATE,DELETE'))
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname IN ('ref', 'core', 'mart', 'raw', 'ops') AND c.relkind IN ('r', 'p')"""
            ).fetchone()[0]
        if can_write:
            self.close()
            raise ReadOnlyViolation(
                f"database login {role!r} can write to the warehouse; the API serves only through a "
                "read-only login (the analyst role: see docs/warehouse.md)"
            )

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn
