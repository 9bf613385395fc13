"""Dagster metadata helpers shared by every asset: table schemas and JSON-safe values."""

from __future__ import annotations

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd


def table_schema_metadata(frame: pd.DataFrame, descriptions: dict[str, str] | None = None) -> dict[str, Any]:
    """`dagster/column_schema` for a DataFrame, so the UI shows the table's columns, types and (when given)
    what each column means."""
    descriptions = descriptions or {}
    columns = [
        dg.TableColumn(name=str(name), type=str(dtype), description=descriptions.get(str(name)))
        for name, dtype in frame.dtypes.items()
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}


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
