"""Rolling-origin backtests: honest out-of-sample skill per parameter and horizon.

Pure. For each fold the models are trained only on rows whose *target* was observed by the fold's cutoff
(origin + h <= cutoff — an origin just before the cutoff would otherwise learn from values after it), then
forecast every origin in the following `fold_hours`. Folds walk forward in time (Tashman 2000, "Out-of-sample
tests of forecasting accuracy", IJF 16(4)).

Scores: MAE and RMSE of the P50; skill = 1 - MAE_model / MAE_baseline against persistence (the last value)
and seasonal naive (the same hour one diurnal cycle earlier; for h = 24 it equals persistence); coverage of
the P10–P90 interval (nominal 80 %). All scores of a horizon use the same rows (actual and both baselines
present), so model and baselines are compared on equal terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from purehealth_pipelines.forecasting.features import HORIZONS_H, seasonal_naive_lag
from purehealth_pipelines.forecasting.models import (
    mask_unseen_targets,
    predict_quantiles,
    train_quantile_models,
)

NOMINAL_COVERAGE = 0.8  # P10–P90


def fold_cutoffs(last_origin: pd.Timestamp, n_folds: int, fold_hours: int) -> list[pd.Timestamp]:
    """Cutoffs of the folds, oldest first: the last fold's test window ends at `last_origin`."""
    step = pd.Timedelta(hours=fold_hours)
    return [last_origin - step * (n_folds - k) for k in range(n_folds)]


def rolling_origin_predictions(
    features: pd.DataFrame,
    parameter: str,
    *,
    horizons: Sequence[int] = HORIZONS_H,
    n_folds: int = 3,
    fold_hours: int = 7 * 24,
    train_kwargs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Out-of-sample forecasts, actuals and baselines for every origin of the last n_folds x fold_hours."""
    rows = features[features["parameter"] == parameter]
    if rows.empty:
        return pd.DataFrame()
    last_origin = pd.Timestamp(rows["ts"].max())
    frames = []
    for fold, cutoff in enumerate(fold_cutoffs(last_origin, n_folds, fold_hours)):
        train = mask_unseen_targets(rows, cutoff, horizons)
        test = rows[(rows["ts"] > cutoff) & (rows["ts"] <= cutoff + pd.Timedelta(hours=fold_hours))]
        if test.empty:
            continue
        try:
            models = train_quantile_models(train, parameter, horizons=horizons, **(train_kwargs or {}))
        except ValueError:
            continue  # not enough history before this cutoff
        predicted = predict_quantiles(models, test)
        indexed = test.set_index(["station_id", "ts"])
        keys = pd.MultiIndex.from_arrays([predicted["station_id"], predicted["origin_ts"]])
        actual = np.full(len(predicted), np.nan)
        seasonal = np.full(len(predicted), np.nan)
        for h in models.horizons:
            at_h = (predicted["horizon_h"] == h).to_numpy()
            source = indexed.loc[keys[at_h]]
            actual[at_h] = source[f"target_{h}h"].to_numpy(dtype="float64")
            lag = seasonal_naive_lag(h)
            column = "last_value" if lag == 0 else f"lag_{lag}h"
            seasonal[at_h] = source[column].to_numpy(dtype="float64")
        frames.append(
            predicted.assign(
                fold=fold,
                cutoff=cutoff,
                actual=actual,
                persistence=predicted["base"],
                seasonal_naive=seasonal,
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def score(predictions: pd.DataFrame) -> pd.DataFrame:
    """MAE/RMSE per parameter and horizon, skill against persistence and seasonal naive, interval coverage."""
    columns = [
        "parameter", "horizon_h", "n", "mae", "rmse", "mae_persistence", "rmse_persistence",
        "mae_seasonal_naive", "skill_vs_persistence", "skill_vs_seasonal_naive", "coverage_p10_p90",
        "mean_interval_width",
    ]  # fmt: skip
    if predictions.empty:
        return pd.DataFrame(columns=columns)
    usable = predictions.dropna(subset=["actual", "p50", "persistence", "seasonal_naive"])
    records = []
    for (parameter, h), group in usable.groupby(["parameter", "horizon_h"], sort=True):
        actual = group["actual"].to_numpy()
        err = group["p50"].to_numpy() - actual
        err_p = group["persistence"].to_numpy() - actual
        err_s = group["seasonal_naive"].to_numpy() - actual
        mae, mae_p, mae_s = np.abs(err).mean(), np.abs(err_p).mean(), np.abs(err_s).mean()
        inside = (actual >= group["p10"].to_numpy()) & (actual <= group["p90"].to_numpy())
        records.append(
            {
                "parameter": parameter,
                "horizon_h": int(h),
                "n": len(group),
                "mae": mae,
                "rmse": float(np.sqrt((err**2).mean())),
                "mae_persistence": mae_p,
                "rmse_persistence": float(np.sqrt((err_p**2).mean())),
                "mae_seasonal_naive": mae_s,
                "skill_vs_persistence": 1 - mae / mae_p if mae_p > 0 else np.nan,
                "skill_vs_seasonal_naive": 1 - mae / mae_s if mae_s > 0 else np.nan,
                "coverage_p10_p90": float(inside.mean()),
                "mean_interval_width": float((group["p90"] - group["p10"]).mean()),
            }
        )
    return pd.DataFrame(records, columns=columns)


def skill_table_markdown(table: pd.DataFrame) -> str:
    """The backtest table as markdown (Dagster metadata, README)."""
    if table.empty:
        return "_no backtest rows (not enough history)_"
    header = (
        "| parameter | h | n | MAE | RMSE | MAE persistence | MAE seasonal naive "
        "| skill vs persistence | skill vs seasonal naive | P10–P90 coverage |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r.parameter} | {r.horizon_h} | {r.n} | {r.mae:.3f} | {r.rmse:.3f} | {r.mae_persistence:.3f} "
        f"| {r.mae_seasonal_naive:.3f} | {r.skill_vs_persistence:+.3f} | {r.skill_vs_seasonal_naive:+.3f} "
        f"| {r.coverage_p10_p90:.2f} |"
        for r in table.itertuples()
    ]
    return header + "\n".join(lines)
