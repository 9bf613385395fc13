"""The forecasting steps with their I/O: what the Dagster assets and the CLI call (thin wrappers there).

Each step reads from the warehouse, calls the pure functions (features, models, backtest, publish rules)
and writes back. `as_of` pins "now" so runs, backfills and tests are reproducible.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from purehealth_pipelines.forecasting import backtest, features, models, publish, registry
from purehealth_pipelines.forecasting.plots import forecast_vs_actual_svg, svg_markdown
from purehealth_pipelines.forecasting.readings import read_exogenous, read_hourly
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import load_registry

log = logging.getLogger(__name__)

HISTORY = pd.Timedelta(hours=max(features.lags_for(features.HORIZONS_H)) + max(features.ROLLING_WINDOWS_H))
FEATURE_TABLE_COLUMNS = [*features.KEY_COLUMNS, *features.feature_columns()[1:], *features.target_columns()]


def live_stations() -> list[str]:
    """The live (IoT sensor) stations of the registry: forecast every 15 minutes."""
    registry_frame = load_registry()
    return sorted(registry_frame.loc[registry_frame["network"] == "IOT", "station_id"])


def load_features(
    warehouse: WarehouseResource,
    origins_from: pd.Timestamp,
    origins_to: pd.Timestamp,
    *,
    parameters: Sequence[str] = features.TARGET_PARAMETERS,
    stations: Sequence[str] | None = None,
    with_targets: bool = True,
) -> pd.DataFrame:
    """Features for origins in [origins_from, origins_to] from core.readings and the raw exogenous tables.

    Reads readings up to origins_to + the longest horizon (targets) or only up to origins_to (forecasting)."""
    read_end = origins_to + pd.Timedelta(hours=max(features.HORIZONS_H)) if with_targets else origins_to
    hourly = read_hourly(
        warehouse, parameters, origins_from - HISTORY - pd.Timedelta(hours=1), read_end, stations
    )
    exogenous = read_exogenous(warehouse, origins_from, origins_to, stations)
    return features.build_features(
        hourly, exogenous, origins_from=origins_from, origins_to=origins_to, with_targets=with_targets
    )


def write_feature_partition(warehouse: WarehouseResource, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """ml.forecast_features for origins in [start, end) (a daily partition, or a backfill range)."""
    frame = load_features(warehouse, start, end - pd.Timedelta(microseconds=1))  # origins in [start, end)
    frame = frame.reindex(columns=FEATURE_TABLE_COLUMNS)
    return warehouse.write_partition("ml.forecast_features", frame, start, end).rows_written


@dataclass
class TrainingReport:
    version: str
    window: tuple[pd.Timestamp, pd.Timestamp]
    trained: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter -> summary
    skipped: dict[str, str] = field(default_factory=dict)


def _require_readings(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Fail with a clear message, not a pandas error, when there is nothing to learn from."""
    if frame.empty:
        raise ValueError(
            f"no good hourly readings in core.readings between {start} and {end}: materialise "
            "core/readings for that window first (live stations feed it through raw.sensor_readings)"
        )


def train_and_register(
    warehouse: WarehouseResource,
    as_of: pd.Timestamp,
    *,
    days: int = 365,
    parameters: Sequence[str] = features.TARGET_PARAMETERS,
    train_kwargs: dict[str, Any] | None = None,
    auto_approve: bool = True,
) -> TrainingReport:
    """Train every parameter's quantile models on [as_of - days, as_of) and store them in ml.models.

    Approval gate, per horizon (models.approval_gate): a horizon is approved only if its P50 beats both
    persistence and seasonal naive on the held-out slice; the registry records every horizon's skill against
    both. A version with no such horizon stays a candidate and the previous approved version keeps serving;
    otherwise it replaces it, and its refused horizons are not served at all (no forecast rows)."""
    end = pd.Timestamp(as_of).floor("h")
    start = end - pd.Timedelta(days=days)
    version = end.strftime("%Y%m%dT%H%M%SZ")
    report = TrainingReport(version=version, window=(start, end))
    # Targets must be observed by `end`: the last origin is end - max horizon (mask handles the rest).
    frame = load_features(warehouse, start, end - pd.Timedelta(hours=1), parameters=parameters)
    _require_readings(frame, start, end)
    frame = models.mask_unseen_targets(frame, end, features.HORIZONS_H)
    for parameter in parameters:
        try:
            trained = models.train_quantile_models(frame, parameter, **(train_kwargs or {}))
        except ValueError as exc:
            report.skipped[parameter] = str(exc)
            continue
        served = sorted(h for h, m in trained.metrics.items() if m.get("served"))
        approve = auto_approve and bool(served)
        registry.save_models(warehouse, trained, version, approve=approve, horizons=served)
        report.trained[parameter] = {
            "rows": trained.train_rows,
            "stations": trained.train_stations,
            "boosters": len(trained.boosters),
            "skill_per_horizon": {
                h: {
                    "vs_persistence": round(float(m.get("holdout_skill_vs_persistence", np.nan)), 4),
                    "vs_seasonal_naive": round(float(m.get("holdout_skill_vs_seasonal_naive", np.nan)), 4),
                    "served": bool(m.get("served")),
                    "gate": str(m.get("gate", "")),
                }
                for h, m in sorted(trained.metrics.items())
            },
            "served_horizons": served if approve else [],
            "status": "approved" if approve else "candidate",
            "fingerprint": models.fingerprint(trained)[:16],
        }
        log.info("trained %s %s: %s", parameter, version, report.trained[parameter])
    return report


@dataclass
class BacktestReport:
    run_id: str
    table: pd.DataFrame
    predictions: pd.DataFrame


def run_backtest(
    warehouse: WarehouseResource,
    as_of: pd.Timestamp,
    *,
    days: int = 90,
    n_folds: int = 3,
    fold_hours: int = 7 * 24,
    parameters: Sequence[str] = features.TARGET_PARAMETERS,
    train_kwargs: dict[str, Any] | None = None,
) -> BacktestReport:
    """Rolling-origin backtest over [as_of - days, as_of); scores stored in ml.backtests under one run id."""
    end = pd.Timestamp(as_of).floor("h")
    start = end - pd.Timedelta(days=days)
    run_id = end.strftime("%Y%m%dT%H%M%SZ")
    last_origin = end - pd.Timedelta(hours=max(features.HORIZONS_H))
    frame = load_features(warehouse, start, last_origin, parameters=parameters)
    _require_readings(frame, start, end)
    frame = models.mask_unseen_targets(frame, end, features.HORIZONS_H)
    predictions = pd.concat(
        [
            backtest.rolling_origin_predictions(
                frame, p, n_folds=n_folds, fold_hours=fold_hours, train_kwargs=train_kwargs
            )
            for p in parameters
        ],
        ignore_index=True,
    )
    table = backtest.score(predictions)
    stored = table.assign(
        run_id=run_id, n_folds=n_folds, fold_hours=fold_hours, window_start=start, window_end=end
    )
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM ml.backtests WHERE run_id = %s", (run_id,))
        from purehealth_pipelines.warehouse.writer import copy_frame

        copy_frame(cur, "ml.backtests", stored)
    return BacktestReport(run_id=run_id, table=table, predictions=predictions)


def backtest_plot_markdown(predictions: pd.DataFrame, parameter: str = "do_mg_l", horizon_h: int = 6) -> str:
    """Forecast-vs-actual SVG of the backtest's last fold for the first station with data."""
    rows = predictions[
        (predictions.get("parameter") == parameter) & (predictions.get("horizon_h") == horizon_h)
    ]
    if rows.empty:
        return "_no backtest predictions to plot_"
    rows = rows[rows["fold"] == rows["fold"].max()]
    station = sorted(rows["station_id"].unique())[0]
    one = rows[rows["station_id"] == station]
    svg = forecast_vs_actual_svg(one, f"{station} {parameter} +{horizon_h} h (out of sample)")
    return svg_markdown(svg, f"forecast vs actual {station} {parameter} +{horizon_h} h")


@dataclass
class ForecastReport:
    issued_at: pd.Timestamp
    origin: pd.Timestamp
    station_group: str
    forecasts: pd.DataFrame
    alerts: pd.DataFrame
    notifications: int
    versions: dict[str, str]
    missing_models: list[str]


def issue_forecasts(
    warehouse: WarehouseResource,
    station_group: str,
    issued_at: pd.Timestamp,
    *,
    parameters: Sequence[str] = features.TARGET_PARAMETERS,
    stations: Sequence[str] | None = None,
) -> ForecastReport:
    """Forecast every station of the group from the last complete hour, store, alert and NOTIFY.

    Live = the registry's IOT stations; other = every other station (that has recent hourly data)."""
    if station_group not in ("live", "other"):
        raise ValueError(f"station_group must be 'live' or 'other', got {station_group!r}")
    issued_at = pd.Timestamp(issued_at).floor("min")
    origin = issued_at.floor("h")
    live = live_stations()
    if stations is None and station_group == "live":
        stations = live
    frames, versions, missing = [], {}, []
    for parameter in parameters:
        loaded = registry.load_approved(warehouse, parameter)
        if loaded is None:
            missing.append(parameter)
            continue
        version, trained = loaded
        rows = load_features(
            warehouse, origin, origin, parameters=[parameter], stations=stations, with_targets=False
        )
        if station_group == "other" and stations is None:
            rows = rows[~rows["station_id"].isin(live)]
        if rows.empty:
            continue
        predicted = models.predict_quantiles(trained, rows)
        frames.append(predicted.assign(model_version=version))
        versions[parameter] = version
    columns = ["station_id", "parameter", "issued_at", "horizon_h", "ts", "origin_ts", "p10", "p50", "p90",
               "station_group", "model_version"]  # fmt: skip
    forecasts = (
        pd.concat(frames, ignore_index=True).assign(issued_at=issued_at, station_group=station_group)[columns]
        if frames
        else pd.DataFrame(columns=columns)
    )
    alerts = publish.forecast_alerts(forecasts)
    _, _, sent = publish.publish_forecasts(warehouse, forecasts, alerts, issued_at, station_group)
    return ForecastReport(issued_at, origin, station_group, forecasts, alerts, sent, versions, missing)


def summary_json(value: Any) -> str:
    return json.dumps(value, default=str)
