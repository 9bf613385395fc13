"""LightGBM quantile models, one per (parameter, horizon, quantile): direct multi-horizon forecasting.

Pure: features in, boosters / predictions out. Choices and why:
- Direct models (one per horizon) rather than recursive: errors do not compound and each horizon learns its
  own mix of persistence and diurnal cycle.
- The target is the *change* from the current value (y(t+h) - last_value); the forecast adds it back. Trees
  cannot extrapolate levels they never saw, but station offsets are then irrelevant and persistence is the
  model's natural starting point.
- Quantile objective for P10/P50/P90; predictions are sorted per row afterwards (monotone rearrangement,
  Chernozhukov, Fernández-Val & Galichon 2010, Econometrica 78(3)) so the interval never crosses.
- Deterministic: deterministic=True, force_row_wise=True, fixed num_threads and seeds (docs/stack_notes.md:
  bit-identical models). Station id is a pandas category (LightGBM rejects pandas 3 `str` columns); the
  category list is stored in the model text, so a reloaded booster maps station ids the same way.
- The P10–P90 interval is calibrated by conformalized quantile regression (Romano, Patterson & Candès 2019,
  "Conformalized Quantile Regression", NeurIPS): the most recent slice of the training window is held out,
  the boosters are fit on the rest, and per horizon the interval is widened (or narrowed) by the
  (1 - alpha) quantile of max(p10 - y, y - p90) on the held-out slice. Raw quantile boosters under-cover
  (they fit their own residuals); the adjustment restores roughly the nominal 80 %.
- All horizons and quantiles of a parameter share one constructed lgb.Dataset (binning is the costly
  part); only the label and the weights (0 where the target is missing) change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from purehealth_pipelines.forecasting.features import HORIZONS_H, feature_columns

QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
# Fixed, for bit-identical results on any machine. One thread: on the shared 2-core machines here a second
# OpenMP thread competing with other processes made training 2-14x *slower* and its timing erratic
# (measured: 300 k rows x 40 features, 50 rounds: 4.8 s with 1 thread, 3.4-19.9 s with 2).
NUM_THREADS = 1
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "quantile",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": NUM_THREADS,
    "seed": 20240601,
    "bagging_seed": 3,
    "feature_fraction_seed": 5,
    "data_random_seed": 7,
    "verbose": -1,
}
DEFAULT_ROUNDS = 100
# Cap on training rows per parameter: neighbouring hours are nearly duplicates, so a deterministic sample
# loses little and bounds training time for 300 stations x 1 year (bench/bench_forecast.py).
MAX_TRAIN_ROWS = 250_000
# Conformal calibration slice: the latest share of the training span, at most CALIBRATION_MAX_HOURS.
CALIBRATION_FRACTION = 0.2
CALIBRATION_MAX_HOURS = 14 * 24


@dataclass
class QuantileModels:
    """The trained boosters of one parameter: {(horizon_h, quantile): Booster}, plus what they need."""

    parameter: str
    features: list[str]
    boosters: dict[tuple[int, float], lgb.Booster]
    params: dict[str, Any]
    num_boost_round: int
    train_rows: int = 0
    train_stations: int = 0
    train_start: pd.Timestamp | None = None
    train_end: pd.Timestamp | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # Conformal widening of the P10–P90 interval per horizon (same units as the parameter).
    interval_adjustment: dict[int, float] = field(default_factory=dict)

    @property
    def horizons(self) -> list[int]:
        return sorted({h for h, _ in self.boosters})

    @property
    def quantiles(self) -> list[float]:
        return sorted({q for _, q in self.boosters})


def design_matrix(features: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The model input: feature columns, station id as a category, everything else float."""
    matrix = features[list(columns)].copy()
    matrix["station_id"] = matrix["station_id"].astype(str).astype("category")
    for column in columns:
        if column != "station_id":
            matrix[column] = matrix[column].astype("float64")
    return matrix


def sample_rows(n_rows: int, max_rows: int, seed: int) -> np.ndarray:
    """A deterministic, order-preserving sample of row positions (all rows when n_rows <= max_rows)."""
    if n_rows <= max_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=max_rows, replace=False))


def mask_unseen_targets(
    features: pd.DataFrame, cutoff: pd.Timestamp, horizons: Sequence[int]
) -> pd.DataFrame:
    """Rows as they were known at `cutoff`: origins <= cutoff, targets observed after the cutoff blanked
    (an origin just before the cutoff must not learn from the values after it)."""
    rows = features[features["ts"] <= cutoff].copy()
    for h in horizons:
        unseen = rows["ts"] + pd.Timedelta(hours=h) > cutoff
        rows.loc[unseen, f"target_{h}h"] = np.nan
    return rows


def conformal_adjustment(y: np.ndarray, low: np.ndarray, high: np.ndarray, coverage: float) -> float:
    """CQR: the finite-sample-corrected `coverage` quantile of the scores max(low - y, y - high)."""
    scores = np.maximum(low - y, y - high)
    scores = scores[~np.isnan(scores)]
    if len(scores) == 0:
        return 0.0
    level = min(1.0, coverage * (len(scores) + 1) / len(scores))
    return float(np.quantile(scores, level, method="higher"))


# The approval gate's margin: a horizon is served only when its hold-out advantage over each baseline is
# larger than GATE_Z standard errors (one-sided 95 %). Errors of neighbouring hours are correlated (a +24 h
# forecast made at 09:00 and at 10:00 miss the same afternoon), so the standard error comes from station-day
# blocks, not from single rows — a Diebold–Mariano comparison (Diebold & Mariano 1995, J. Business &
# Economic Statistics 13(3)) with day blocks. Issue 18: with the point skill alone (> 0), +24 h horizons
# whose hold-out skill was +0.01–0.05 were served and then lost to the baselines the following weeks.
GATE_Z = 1.645
GATE_MIN_BLOCKS = 5


def skill_margin(
    actual: np.ndarray, p50: np.ndarray, baseline: np.ndarray, blocks: np.ndarray, z: float | None = None
) -> float:
    """z (default GATE_Z) standard errors of the skill 1 − MAE/MAE(baseline), from block means of the loss
    differential |baseline error| − |model error| (NaN with fewer than GATE_MIN_BLOCKS blocks: too little
    evidence)."""
    z = GATE_Z if z is None else z
    frame = pd.DataFrame(
        {
            "block": blocks,
            "diff": np.abs(baseline - actual) - np.abs(p50 - actual),
            "base": np.abs(baseline - actual),
        }
    )
    per_block = frame.groupby("block")[["diff", "base"]].mean()
    if len(per_block) < GATE_MIN_BLOCKS or per_block["base"].mean() <= 0:
        return np.nan
    standard_error = per_block["diff"].std(ddof=1) / np.sqrt(len(per_block))
    return float(z * standard_error / per_block["base"].mean())


def holdout_metrics(
    actual: np.ndarray,
    p50: np.ndarray,
    persistence: np.ndarray,
    seasonal_naive: np.ndarray | None = None,
    blocks: np.ndarray | None = None,
    periods: np.ndarray | None = None,
) -> dict[str, float | int | bool | str]:
    """P50 MAE on the held-out slice against persistence and seasonal naive, and the gate's verdict.

    All three are scored on the same rows (actual and both baselines present). `served` is the approval
    gate for this horizon: the P50 must beat *both* baselines by more than its margin (skill_margin over
    `blocks`, e.g. station-day labels; without blocks every row is its own block), and must not lose to
    either baseline in any of the hold-out's `periods` (e.g. its weeks: a rolling check that the advantage
    is not one good week averaged with a bad one). Issue 18 found models approved on mean skill over
    horizons while their +6 h lost to same-hour-yesterday, then +24 h horizons served on a hold-out skill of
    a few hundredths that lost the following weeks.
    """
    seasonal = persistence if seasonal_naive is None else seasonal_naive
    seen = ~np.isnan(actual) & ~np.isnan(p50) & ~np.isnan(persistence) & ~np.isnan(seasonal)
    if not seen.any():
        return {"holdout_n": 0, "served": False, "gate": "no hold-out rows"}
    blocks = np.arange(len(actual)) if blocks is None else np.asarray(blocks)
    mae = float(np.abs(p50[seen] - actual[seen]).mean())
    mae_persistence = float(np.abs(persistence[seen] - actual[seen]).mean())
    mae_seasonal = float(np.abs(seasonal[seen] - actual[seen]).mean())
    skill_p = 1 - mae / mae_persistence if mae_persistence > 0 else 0.0
    skill_s = 1 - mae / mae_seasonal if mae_seasonal > 0 else 0.0
    margin_p = skill_margin(actual[seen], p50[seen], persistence[seen], blocks[seen])
    margin_s = skill_margin(actual[seen], p50[seen], seasonal[seen], blocks[seen])
    served, gate = approval_gate(skill_p, skill_s, margin_p, margin_s)
    worst = _worst_period(actual[seen], p50[seen], persistence[seen], seasonal[seen], periods, seen)
    if served and worst is not None and worst[1] <= 0:
        served, gate = False, f"loses to {worst[0]} in hold-out period {worst[2]} (skill {worst[1]:+.3f})"
    return {
        "holdout_n": int(seen.sum()),
        "holdout_blocks": len(np.unique(blocks[seen])),
        "holdout_mae": mae,
        "holdout_mae_persistence": mae_persistence,
        "holdout_mae_seasonal_naive": mae_seasonal,
        "holdout_skill_vs_persistence": skill_p,
        "holdout_skill_vs_seasonal_naive": skill_s,
        # None (JSON null) where there were too few hold-out days to estimate a margin
        "holdout_margin_vs_persistence": None if np.isnan(margin_p) else margin_p,
        "holdout_margin_vs_seasonal_naive": None if np.isnan(margin_s) else margin_s,
        "better_baseline": "persistence" if mae_persistence <= mae_seasonal else "seasonal_naive",
        "served": served,
        "gate": gate,
    }


def _worst_period(
    actual: np.ndarray,
    p50: np.ndarray,
    persistence: np.ndarray,
    seasonal: np.ndarray,
    periods: np.ndarray | None,
    seen: np.ndarray,
) -> tuple[str, float, str] | None:
    """(baseline, skill, period) of the lowest per-period skill against either baseline (None: no periods)."""
    if periods is None:
        return None
    labels = np.asarray(periods)[seen]
    worst = None
    for label in np.unique(labels):
        rows = labels == label
        model_mae = np.abs(p50[rows] - actual[rows]).mean()
        for name, baseline in (("persistence", persistence), ("seasonal naive", seasonal)):
            base_mae = np.abs(baseline[rows] - actual[rows]).mean()
            skill = 1 - model_mae / base_mae if base_mae > 0 else 0.0
            if worst is None or skill < worst[1]:
                worst = (name, float(skill), str(label))
    return worst


def approval_gate(
    skill_vs_persistence: float,
    skill_vs_seasonal_naive: float,
    margin_vs_persistence: float = 0.0,
    margin_vs_seasonal_naive: float = 0.0,
) -> tuple[bool, str]:
    """(serve this horizon from the model?, why): only when it beats both baselines on the hold-out by more
    than the margin (skill_margin; NaN = too few hold-out days to tell, refused).

    A refused horizon is not served at all (no forecast row), rather than served from a baseline: a
    dashboard then shows no forecast for it, never a baseline dressed up as a model."""
    for name, skill, margin in (
        ("persistence", skill_vs_persistence, margin_vs_persistence),
        ("seasonal naive", skill_vs_seasonal_naive, margin_vs_seasonal_naive),
    ):
        if not (skill > 0):
            return False, f"loses to {name} (skill {skill:+.3f})"
        if np.isnan(margin):
            return False, f"too few hold-out days to tell whether it beats {name}"
        if not (skill > margin):
            return False, f"does not beat {name} by its margin (skill {skill:+.3f}, margin {margin:.3f})"
    return True, "beats persistence and seasonal naive by their margins"


def seasonal_naive_values(rows: pd.DataFrame, horizon_h: int) -> np.ndarray:
    """The seasonal-naive forecast for `horizon_h` at each feature row (same hour, one cycle earlier)."""
    from purehealth_pipelines.forecasting.features import seasonal_naive_lag

    lag = seasonal_naive_lag(horizon_h)
    column = "last_value" if lag == 0 else f"lag_{lag}h"
    if column not in rows.columns:
        return np.full(len(rows), np.nan)
    return rows[column].to_numpy(dtype="float64")


def train_quantile_models(
    features: pd.DataFrame,
    parameter: str,
    *,
    horizons: Sequence[int] = HORIZONS_H,
    quantiles: Sequence[float] = QUANTILES,
    params: dict[str, Any] | None = None,
    num_boost_round: int = DEFAULT_ROUNDS,
    max_rows: int = MAX_TRAIN_ROWS,
    exogenous: bool = True,
    calibrate: bool = True,
) -> QuantileModels:
    """Train one booster per (horizon, quantile) on the feature rows of `parameter`, then calibrate the
    interval on the held-out latest slice (see module docstring).

    Rows are sorted by (station, ts) first so the result does not depend on the input order."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    all_rows = features[features["parameter"] == parameter].sort_values(["station_id", "ts"], kind="stable")
    calibration = all_rows.iloc[0:0]
    if calibrate and not all_rows.empty:
        first, last = all_rows["ts"].min(), all_rows["ts"].max()
        hours = min((last - first) * CALIBRATION_FRACTION, pd.Timedelta(hours=CALIBRATION_MAX_HOURS))
        cutoff = last - hours
        calibration = all_rows[all_rows["ts"] > cutoff]
        all_rows = mask_unseen_targets(all_rows, cutoff, horizons)
    models = _fit(all_rows, parameter, horizons, quantiles, params, num_boost_round, max_rows, exogenous)
    if not calibration.empty and len(models.quantiles) >= 2:
        predicted = predict_quantiles(models, calibration)
        coverage = models.quantiles[-1] - models.quantiles[0]
        # the gate's evidence comes in station-days (see skill_margin)
        station_days = (
            calibration["station_id"].astype(str) + "/" + calibration["ts"].dt.floor("D").astype(str)
        ).to_numpy()
        # ... and it must hold in each week of the hold-out (week 0 = the oldest)
        holdout_weeks = ((calibration["ts"] - calibration["ts"].min()) // pd.Timedelta(days=7)).to_numpy()
        for h in models.horizons:
            at_h = predicted[predicted["horizon_h"] == h]
            actual = calibration[f"target_{h}h"].to_numpy(dtype="float64")
            models.interval_adjustment[h] = conformal_adjustment(
                actual, at_h["p10"].to_numpy(), at_h["p90"].to_numpy(), coverage
            )
            models.metrics[h] = holdout_metrics(
                actual,
                at_h["p50"].to_numpy(),
                at_h["base"].to_numpy(),
                seasonal_naive_values(calibration, h),
                blocks=station_days,
                periods=holdout_weeks,
            )
    return models


def _fit(
    rows: pd.DataFrame,
    parameter: str,
    horizons: Sequence[int],
    quantiles: Sequence[float],
    params: dict[str, Any],
    num_boost_round: int,
    max_rows: int,
    exogenous: bool,
) -> QuantileModels:
    columns = feature_columns(horizons, exogenous=exogenous)
    rows = rows.iloc[sample_rows(len(rows), max_rows, int(params["seed"]))].reset_index(drop=True)
    targets = {h: (rows[f"target_{h}h"] - rows["last_value"]).to_numpy(dtype="float64") for h in horizons}
    usable = np.zeros(len(rows), dtype=bool)
    for target in targets.values():
        usable |= ~np.isnan(target)
    rows = rows[usable].reset_index(drop=True)
    targets = {h: t[usable] for h, t in targets.items()}
    if rows.empty:
        raise ValueError(f"no training rows with targets for {parameter!r}")

    matrix = design_matrix(rows, columns)
    first = targets[horizons[0]]
    dataset = lgb.Dataset(
        matrix,
        label=np.nan_to_num(first),
        weight=(~np.isnan(first)).astype("float64"),
        categorical_feature=["station_id"],
        params=params,
        free_raw_data=False,
    ).construct()
    boosters: dict[tuple[int, float], lgb.Booster] = {}
    for h in horizons:
        observed = ~np.isnan(targets[h])
        if observed.sum() < 2 * int(params["min_data_in_leaf"]):
            continue
        dataset.set_label(np.nan_to_num(targets[h]))
        dataset.set_weight(observed.astype("float64"))
        for q in quantiles:
            boosters[(h, q)] = lgb.train({**params, "alpha": q}, dataset, num_boost_round=num_boost_round)
    if not boosters:
        raise ValueError(f"too few training rows with targets for {parameter!r}")
    return QuantileModels(
        parameter=parameter,
        features=columns,
        boosters=boosters,
        params=params,
        num_boost_round=num_boost_round,
        train_rows=len(rows),
        train_stations=int(rows["station_id"].nunique()),
        train_start=pd.Timestamp(rows["ts"].min()),
        train_end=pd.Timestamp(rows["ts"].max()),
    )


def predict_quantiles(models: QuantileModels, features: pd.DataFrame) -> pd.DataFrame:
    """Forecasts for every feature row of the models' parameter and every horizon.

    Returns long rows (station_id, parameter, origin_ts, horizon_h, ts = origin + h, p10, p50, p90, base)
    with p10 <= p50 <= p90 guaranteed (rows sorted across quantiles)."""
    rows = features[features["parameter"] == models.parameter].reset_index(drop=True)
    out_columns = ["station_id", "parameter", "origin_ts", "horizon_h", "ts", "p10", "p50", "p90", "base"]
    if rows.empty:
        return pd.DataFrame(columns=out_columns)
    matrix = design_matrix(rows, models.features)
    base = rows["last_value"].to_numpy(dtype="float64")
    frames = []
    quantiles = models.quantiles
    for h in models.horizons:
        raw = np.column_stack(
            [base + models.boosters[(h, q)].predict(matrix, num_threads=NUM_THREADS) for q in quantiles]
        )
        widen = models.interval_adjustment.get(h, 0.0)
        raw[:, 0] -= widen
        raw[:, -1] += widen
        ordered = np.sort(raw, axis=1)  # monotone rearrangement: never a crossing interval
        by_q = dict(zip(quantiles, ordered.T, strict=True))
        frames.append(
            pd.DataFrame(
                {
                    "station_id": rows["station_id"].astype(str).to_numpy(),
                    "parameter": models.parameter,
                    "origin_ts": rows["ts"].to_numpy(),
                    "horizon_h": h,
                    "ts": (rows["ts"] + pd.Timedelta(hours=h)).to_numpy(),
                    "p10": by_q.get(0.1, ordered[:, 0]),
                    "p50": by_q.get(0.5, ordered[:, len(quantiles) // 2]),
                    "p90": by_q.get(0.9, ordered[:, -1]),
                    "base": base,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[out_columns]


def model_texts(models: QuantileModels) -> dict[tuple[int, float], str]:
    """Each booster as LightGBM model text (what the registry stores)."""
    return {key: booster.model_to_string() for key, booster in sorted(models.boosters.items())}


def models_from_texts(
    parameter: str,
    features: list[str],
    texts: dict[tuple[int, float], str],
    params: dict[str, Any],
    interval_adjustment: dict[int, float] | None = None,
) -> QuantileModels:
    """Rebuild QuantileModels from stored model text (the inverse of model_texts)."""
    boosters = {key: lgb.Booster(model_str=text) for key, text in texts.items()}
    return QuantileModels(
        parameter=parameter,
        features=features,
        boosters=boosters,
        params=params,
        num_boost_round=int(params.get("num_boost_round", 0)),
        interval_adjustment=dict(interval_adjustment or {}),
    )


def fingerprint(models: QuantileModels) -> str:
    """SHA-256 over all model texts: equal fingerprints = identical models."""
    digest = hashlib.sha256()
    for key, text in model_texts(models).items():
        digest.update(repr(key).encode())
        digest.update(text.encode())
    return digest.hexdigest()
