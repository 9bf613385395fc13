"""Forecast skill on real LRO sonde data (called by bench_qc_real.py): per parameter and horizon, against
persistence and seasonal naive, and what the per-horizon approval gate would serve.

Hourly means (labelled by the end of their hour, as forecasting/readings.py does) of the readings QC
passed; rolling-origin weekly folds (backtest.rolling_origin_predictions, no exogenous inputs). In each fold
the models' own hold-out (the newest slice of the training window) decides per horizon whether the
horizon is served (models.approval_gate: beats both baselines by its day-block margin on that hold-out);
the table shows the out-of-sample skill of all folds and of the served folds only, and in how many of the
served folds the model then lost to a baseline over the following week (what the gate must not let through).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from purehealth_pipelines.forecasting import backtest, features, models
from purehealth_pipelines.quality.evaluation import markdown_table

PARAMETERS = ("do_mg_l", "ph", "ec_us_cm", "turbidity_ntu")
GATE_LOG: list[dict] = []  # the gate's hold-out evidence per parameter, horizon and fold


def hourly_good(scored: pd.DataFrame) -> pd.DataFrame:
    good = scored[scored["qc_flag"] == 1]
    hour_end = good["ts"].dt.floor("h") + pd.Timedelta(hours=1)
    return good.assign(ts=hour_end).groupby(["station_id", "parameter", "ts"], as_index=False)["value"].mean()


def _gated_predictions(frame: pd.DataFrame, parameter: str, n_folds: int) -> pd.DataFrame:
    """Rolling-origin predictions plus, per fold and horizon, the gate verdict from the training hold-out."""
    rows = frame[frame["parameter"] == parameter]
    last_origin = pd.Timestamp(rows["ts"].max())
    out = []
    kwargs = {"exogenous": False, "num_boost_round": 100}
    for fold, cutoff in enumerate(backtest.fold_cutoffs(last_origin, n_folds, 7 * 24)):
        train = models.mask_unseen_targets(rows, cutoff, features.HORIZONS_H)
        test = rows[(rows["ts"] > cutoff) & (rows["ts"] <= cutoff + pd.Timedelta(hours=7 * 24))]
        if test.empty:
            continue
        trained = models.train_quantile_models(train, parameter, **kwargs)
        predicted = models.predict_quantiles(trained, test)
        indexed = test.set_index(["station_id", "ts"])
        keys = pd.MultiIndex.from_arrays([predicted["station_id"], predicted["origin_ts"]])
        actual = np.full(len(predicted), np.nan)
        seasonal = np.full(len(predicted), np.nan)
        served = np.zeros(len(predicted), bool)
        for h in trained.horizons:
            at_h = (predicted["horizon_h"] == h).to_numpy()
            source = indexed.loc[keys[at_h]]
            actual[at_h] = source[f"target_{h}h"].to_numpy(dtype="float64")
            seasonal[at_h] = models.seasonal_naive_values(source.reset_index(), h)
            served[at_h] = bool(trained.metrics.get(h, {}).get("served"))
        for h in trained.horizons:
            m = trained.metrics.get(h, {})
            GATE_LOG.append(
                {
                    "parameter": parameter,
                    "horizon_h": h,
                    "fold": fold,
                    "served": bool(m.get("served")),
                    "holdout_skill_p": m.get("holdout_skill_vs_persistence", np.nan),
                    "holdout_skill_s": m.get("holdout_skill_vs_seasonal_naive", np.nan),
                    "margin_p": m.get("holdout_margin_vs_persistence") or np.nan,
                    "margin_s": m.get("holdout_margin_vs_seasonal_naive") or np.nan,
                    "blocks": m.get("holdout_blocks", 0),
                }
            )
        out.append(
            predicted.assign(
                fold=fold,
                actual=actual,
                persistence=predicted["base"],
                seasonal_naive=seasonal,
                served=served,
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def forecast_report(scored: pd.DataFrame, n_folds: int = 8) -> pd.DataFrame:
    began = time.perf_counter()
    hourly = hourly_good(scored)
    frame = features.build_features(hourly, None)
    frame = frame[[c for c in frame.columns if c not in features.feature_columns()[-9:]]]
    predictions = pd.concat(
        [_gated_predictions(frame, p, n_folds) for p in PARAMETERS if (frame["parameter"] == p).any()],
        ignore_index=True,
    )
    table = backtest.score(predictions)
    served = backtest.score(predictions[predictions["served"]])
    folds = predictions.groupby(["parameter", "horizon_h"])[["fold", "served"]].apply(
        lambda g: f"{g.loc[g['served'], 'fold'].nunique()}/{g['fold'].nunique()}"
    )
    table["served_folds"] = [folds.get((r.parameter, r.horizon_h), "0/0") for r in table.itertuples()]
    lost = {}
    for (parameter, h, fold), group in predictions[predictions["served"]].groupby(
        ["parameter", "horizon_h", "fold"]
    ):
        week = backtest.score(group).iloc[0]
        if not (week["skill_vs_persistence"] > 0 and week["skill_vs_seasonal_naive"] > 0):
            lost.setdefault((parameter, h), []).append(
                f"{fold}: {week['skill_vs_persistence']:+.2f}/{week['skill_vs_seasonal_naive']:+.2f}"
            )
    table["served_lost"] = [
        f"{len(lost.get((r.parameter, r.horizon_h), []))} "
        + "; ".join(lost.get((r.parameter, r.horizon_h), []))
        for r in table.itertuples()
    ]

    served_skill = served.set_index(["parameter", "horizon_h"])
    for column in ("skill_vs_persistence", "skill_vs_seasonal_naive"):
        table[f"served_{column}"] = [
            served_skill[column].get((r.parameter, r.horizon_h), np.nan) for r in table.itertuples()
        ]
    seconds = time.perf_counter() - began
    print(f"\n### Forecast skill on LRO hourly means ({n_folds} weekly folds, {seconds:.0f} s)\n")
    fmt = {c: "{:+.3f}" for c in table.columns if "skill" in c} | {
        "mae": "{:.3f}",
        "coverage_p10_p90": "{:.2f}",
    }
    print(
        markdown_table(
            table,
            [
                "parameter", "horizon_h", "n", "mae", "skill_vs_persistence", "skill_vs_seasonal_naive",
                "served_folds", "served_skill_vs_persistence", "served_skill_vs_seasonal_naive",
                "served_lost", "coverage_p10_p90",
            ],
            fmt,
        )
    )  # fmt: skip
    gate = pd.DataFrame(GATE_LOG)
    if len(gate):
        # each fold's out-of-sample skill per parameter and horizon: the week the gate's verdict was for
        weeks = pd.DataFrame(
            [
                {"fold": fold, **row._asdict()}
                for fold, group in predictions.groupby("fold")
                for row in backtest.score(group).itertuples(index=False)
            ]
        )[["parameter", "horizon_h", "fold", "skill_vs_persistence", "skill_vs_seasonal_naive"]]
        gate = gate.merge(weeks, on=["parameter", "horizon_h", "fold"], how="left")
        print(f"\n### The gate per fold (z = {models.GATE_Z}): hold-out skill − margin vs the week after\n")
        for side in ("p", "s"):
            pairs = zip(gate[f"holdout_skill_{side}"], gate[f"margin_{side}"], strict=True)
            gate[f"holdout_{side}"] = [f"{a:+.3f} ± {b:.3f}" for a, b in pairs]
        shown = gate[(gate["horizon_h"] > 1)].sort_values(["parameter", "horizon_h", "fold"])
        print(
            markdown_table(
                shown,
                ["parameter", "horizon_h", "fold", "blocks", "holdout_p", "holdout_s", "served",
                 "skill_vs_persistence", "skill_vs_seasonal_naive"],
                {"skill_vs_persistence": "{:+.3f}", "skill_vs_seasonal_naive": "{:+.3f}"},
            )
        )  # fmt: skip
    return table
