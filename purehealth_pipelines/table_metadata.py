"""Dagster metadata helpers shared by every asset: table schemas and JSON-safe values."""

from __future__ import annotations

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

TABLE_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum)
  FROM pg_attribute a
 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


def table_schema_metadata(warehouse: Any, table: str) -> dict[str, Any]:
    """`dagster/column_schema` of a warehouse table: its columns, their SQL types and descriptions.

    The descriptions are the columns' COMMENTs (migration 0530): one home that psql's \\d+, BI tools and the
    Dagster UI all show, instead of a copy per asset that drifts from the table.
    """
    with warehouse.connect() as conn:
        rows = conn.execute(TABLE_COLUMNS_SQL, (table,)).fetchall()
    columns = [
        dg.TableColumn(name=name, type=sql_type, description=comment) for name, sql_type, comment in rows
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns), "dagster/table_name": table}


def json_safe(value: Any) -> Any:
    """numpy / pandas scalars -> plain Python, so Dagster metadata and JSON serialise them."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA:
        return None
    return value
