"""Shared bench plumbing: a throwaway migrated database and a uniform way to print figures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from purehealth_pipelines import settings
from purehealth_pipelines.warehouse.migrate import migrate


@contextmanager
def bench_database() -> Iterator[str]:
    """Create `purehealth_bench_<random>`, migrate it, yield its URL, drop it (never the demo database)."""
    params = conninfo_to_dict(settings.warehouse_url())
    admin = make_conninfo(**{**params, "dbname": "postgres"})
    name = f"purehealth_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(**{**params, "dbname": name})
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def report(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
