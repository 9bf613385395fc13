"""End to end: the whole code location on the offline demo sources, against a real test warehouse.

This is what `make demo` runs. Every asset must materialise, and a second run of the same windows must leave
every table with the same number of rows (partitions are replaced, never duplicated).
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

import purehealth_pipelines.definitions as location
from purehealth_pipelines.demo_cli import run_pipeline
from purehealth_pipelines.resources import WarehouseResource

SCHEMAS = ("ref", "raw", "core", "mart", "ml")


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1",
            (list(SCHEMAS),),
        ).fetchall()
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables}


@pytest.mark.slow
def test_demo_pipeline_materialises_everything_and_reruns_idempotently(module_warehouse_url: str) -> None:
    resources = {"warehouse": WarehouseResource(url=module_warehouse_url)}
    with dg.instance_for_test() as instance:
        first = run_pipeline(location.defs, instance, resources, quiet=True)
        failed = [r.step.label for r in first if not r.success]
        assert not failed, f"assets failed to materialise: {failed}"
        counts_after_first = table_counts(module_warehouse_url)
        assert counts_after_first["ref.stations"] > 100
        second = run_pipeline(location.defs, instance, resources, quiet=True)
        assert all(r.success for r in second)
    assert table_counts(module_warehouse_url) == counts_after_first
