"""The vocabulary module and the warehouse's reference tables state the same facts."""

from __future__ import annotations

import psycopg

from purehealth_pipelines.vocabulary import CANONICAL_UNITS, DERIVED_PARAMETERS, SOURCES, QartodFlag


def test_ref_parameters_and_the_canonical_units_agree(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        rows = dict(conn.execute("SELECT code, unit FROM ref.parameters").fetchall())
    assert rows == CANONICAL_UNITS | DERIVED_PARAMETERS


def test_ref_source_priority_and_the_sources_agree(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        rows = {
            source: (source_class, priority, is_observation)
            for source, source_class, priority, is_observation in conn.execute(
                "SELECT source, source_class, priority, is_observation FROM ref.source_priority"
            )
        }
    assert rows == {name: tuple(source) for name, source in SOURCES.items()}


def test_qartod_flags_are_the_ioos_primary_flags() -> None:
    assert [int(flag) for flag in QartodFlag] == [1, 2, 3, 4, 9]
    assert QartodFlag.FAIL.label == "bad"
