"""A small model registry in ml.models: model text with its features, window, parameters and metrics.

One row per booster (parameter x horizon x quantile) of a training run (`version`). Status goes candidate ->
approved (-> retired when a newer version is approved); the forecast asset loads, per parameter, the newest
approved version. Storing LightGBM's own model text (not pickles) keeps models readable, diffable and
loadable by any LightGBM version that reads the format.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from purehealth_pipelines.forecasting.models import QuantileModels, model_texts, models_from_texts
from purehealth_pipelines.resources import WarehouseResource

INSERT_SQL = """
INSERT INTO ml.models (version, parameter, horizon_h, quantile, status, model_text, model_sha256, features,
                       params, interval_adjustment, train_start, train_end, train_rows, train_stations,
                       metrics, approved_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s = 'approved' THEN now() END)
ON CONFLICT (version, parameter, horizon_h, quantile) DO UPDATE SET
    status = EXCLUDED.status, model_text = EXCLUDED.model_text, model_sha256 = EXCLUDED.model_sha256,
    features = EXCLUDED.features, params = EXCLUDED.params,
    interval_adjustment = EXCLUDED.interval_adjustment, train_start = EXCLUDED.train_start,
    train_end = EXCLUDED.train_end, train_rows = EXCLUDED.train_rows,
    train_stations = EXCLUDED.train_stations, metrics = EXCLUDED.metrics, approved_at = EXCLUDED.approved_at,
    trained_at = now()
"""


def _ts(value: pd.Timestamp | None) -> Any:
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def save_models(
    warehouse: WarehouseResource,
    models: QuantileModels,
    version: str,
    *,
    approve: bool = False,
    horizons: list[int] | None = None,
) -> int:
    """Store every booster of `models` under `version` (idempotent per version); optionally approve it.

    With `horizons`, only those horizons are approved (the per-horizon gate); the others stay candidates
    with their hold-out metrics (skill against persistence and seasonal naive) recorded beside them."""
    params = json.dumps({**models.params, "num_boost_round": models.num_boost_round})
    rows = []
    for (h, q), text in model_texts(models).items():
        status = "approved" if approve and (horizons is None or h in horizons) else "candidate"
        rows.append(
            (
                version, models.parameter, h, q, status, text, hashlib.sha256(text.encode()).hexdigest(),
                json.dumps(models.features), params, models.interval_adjustment.get(h),
                _ts(models.train_start), _ts(models.train_end), models.train_rows, models.train_stations,
                json.dumps(models.metrics.get(h, {})), status,
            )
        )  # fmt: skip
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(INSERT_SQL, rows)
        if approve:
            _retire_others(cur, models.parameter, version)
    return len(rows)


def _retire_others(cur: Any, parameter: str, version: str) -> None:
    cur.execute(
        "UPDATE ml.models SET status = 'retired' "
        "WHERE parameter = %s AND status = 'approved' AND version <> %s",
        (parameter, version),
    )


def approve(warehouse: WarehouseResource, version: str, parameter: str) -> int:
    """Approve a stored version of one parameter (retiring the previously approved one)."""
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "UPDATE ml.models SET status = 'approved', approved_at = now() "
            "WHERE version = %s AND parameter = %s",
            (version, parameter),
        )
        updated = cur.rowcount
        if updated:
            _retire_others(cur, parameter, version)
    return updated


def load_approved(warehouse: WarehouseResource, parameter: str) -> tuple[str, QuantileModels] | None:
    """The newest approved version of `parameter`'s models — only its approved horizons — or None."""
    frame = warehouse.read_frame(
        """
        SELECT version, horizon_h, quantile, model_text, features, params, interval_adjustment,
               train_start, train_end, train_rows, train_stations, metrics
        FROM ml.models
        WHERE parameter = %(p)s AND status = 'approved' AND version = (
            SELECT version FROM ml.models WHERE parameter = %(p)s AND status = 'approved'
            ORDER BY approved_at DESC NULLS LAST, version DESC LIMIT 1)
        ORDER BY horizon_h, quantile
        """,
        {"p": parameter},
    )
    if frame.empty:
        return None
    texts = {(int(r.horizon_h), float(r.quantile)): r.model_text for r in frame.itertuples()}
    adjustment = {
        int(r.horizon_h): float(r.interval_adjustment)
        for r in frame.itertuples()
        if r.interval_adjustment is not None and not pd.isna(r.interval_adjustment)
    }
    first = frame.iloc[0]
    models = models_from_texts(parameter, list(first["features"]), texts, dict(first["params"]), adjustment)
    models.train_start, models.train_end = first["train_start"], first["train_end"]
    models.train_rows, models.train_stations = (
        int(first["train_rows"] or 0),
        int(first["train_stations"] or 0),
    )
    models.metrics = {int(r.horizon_h): r.metrics for r in frame.itertuples()}
    return str(first["version"]), models


def registry_summary(warehouse: WarehouseResource) -> pd.DataFrame:
    """One row per (version, parameter): status, horizons, training window — for metadata and the CLI."""
    return warehouse.read_frame(
        """
        SELECT version, parameter, min(status) AS status, count(*) AS boosters,
               min(train_start) AS train_start, max(train_end) AS train_end, max(train_rows) AS train_rows
        FROM ml.models GROUP BY version, parameter ORDER BY version DESC, parameter
        """
    )
