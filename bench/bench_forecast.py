"""Forecasting bench: training on 300 stations x 1 year of hourly data, and a forecast for all 300 stations.

Creates and drops its own database (purehealth_bench_<random>), loads synthetic hourly DO readings with a
learnable signal into core.readings (and IMD-like rainfall into raw.imd_rainfall), then measures:

  read+features  SQL hourly means from core.readings + the feature matrix (the data path)
  train          train_quantile_models: 3 horizons x 3 quantiles (+ conformal calibration)
  raw reference  ONE plain lgb.train (P50, same params, same rounds) on the same sampled matrix, measured in
                 the same run: the limit one booster costs in LightGBM itself. Ratio = train / (9 x reference)
                 — how close our 9-booster training comes to 9 bare LightGBM fits (below 1.0 means sharing the
                 binned Dataset across boosters saves more than calibration costs).
  forecast       issue_forecasts for all 300 stations: SQL read, features at the origin, 9 predictions,
                 write to mart.forecasts + NOTIFY, in one transaction. Ratio against the schedule budget
                 (900 s = the 15-minute cadence) and against the bare SQL read of the same rows.

Usage: .venv/bin/python bench/bench_forecast.py [--stations 300] [--days 365] [--skill-table]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import lightgbm as lgb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import bench_database

from purehealth_pipelines.forecasting import backtest, features, models, registry, service, synthetic
from purehealth_pipelines.forecasting.readings import read_hourly
from purehealth_pipelines.resources import WarehouseResource

END = pd.Timestamp("2025-01-01", tz="UTC")


def timed(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - began
    print(f"  {label:<34} {seconds:8.2f} s", flush=True)
    return result, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--skill-table", action="store_true", help="also print a 4-parameter backtest table")
    args = parser.parse_args()

    with bench_database() as url:
        warehouse = WarehouseResource(url=url)
        stations = [f"BENCH-{i:03d}" for i in range(args.stations)]
        start = END - pd.Timedelta(days=args.days)
        print(f"bench database: {args.stations} stations x {args.days} days hourly DO")
        rain = synthetic.daily_rainfall(stations, start, END)
        readings, _ = timed(
            "generate readings",
            synthetic.sensor_readings,
            stations, start, END, step="1h", parameters=("do_mg_l",), rainfall=rain,
        )  # fmt: skip
        _, load_s = timed(
            f"COPY {len(readings):,} readings",
            warehouse.write_partition,
            "core.readings",
            readings,
            start,
            END,
        )
        warehouse.write_partition("raw.imd_rainfall", rain, start - pd.Timedelta(days=1), END)
        del readings

        as_of = END
        hourly, read_s = timed("SQL hourly read", read_hourly, warehouse, ["do_mg_l"], start, as_of)
        frame, feat_s = timed("feature matrix", features.build_features, hourly, None)
        frame = models.mask_unseen_targets(frame, as_of, features.HORIZONS_H)
        trained, train_s = timed(
            "train 9 boosters (+calibration)", models.train_quantile_models, frame, "do_mg_l"
        )

        # The raw reference: one bare lgb.train with the same parameters on the same sampled rows.
        rows = frame[frame["parameter"] == "do_mg_l"].sort_values(["station_id", "ts"], kind="stable")
        rows = rows.iloc[models.sample_rows(len(rows), models.MAX_TRAIN_ROWS, models.DEFAULT_PARAMS["seed"])]
        rows = rows[rows["target_6h"].notna()]
        matrix = models.design_matrix(rows, trained.features)
        label = (rows["target_6h"] - rows["last_value"]).to_numpy()
        params = {**models.DEFAULT_PARAMS, "alpha": 0.5}

        def bare() -> lgb.Booster:
            return lgb.train(params, lgb.Dataset(matrix, label, params=params), models.DEFAULT_ROUNDS)

        _, ref_s = timed("raw reference: 1 lgb.train", bare)

        version = "bench"
        registry.save_models(warehouse, trained, version, approve=True)
        issued, forecast_s = timed(
            "forecast all stations",
            service.issue_forecasts,
            warehouse,
            "other",
            as_of,
            parameters=["do_mg_l"],
        )
        _, bare_read_s = timed(
            "SQL read for the forecast origin",
            read_hourly, warehouse, ["do_mg_l"], as_of - service.HISTORY - pd.Timedelta(hours=1), as_of,
        )  # fmt: skip

        n_hourly = len(hourly)
        print()
        print(
            f"hourly values: {n_hourly:,}; feature rows: {len(frame):,}; "
            f"training rows: {trained.train_rows:,}"
        )
        print(f"load (COPY) {len(hourly) / load_s:,.0f} rows/s")
        print(f"read+features: {read_s + feat_s:.1f} s ({n_hourly / (read_s + feat_s):,.0f} hourly values/s)")
        fits = trained.train_rows * 9 / train_s
        print(f"training:      {train_s:.1f} s for 9 boosters x {models.DEFAULT_ROUNDS} rounds on "
              f"{trained.train_rows:,} rows ({fits:,.0f} row-fits/s)")  # fmt: skip
        print(f"  ratio train / (9 x bare lgb.train) = {train_s / (9 * ref_s):.2f}  (bare: {ref_s:.1f} s)")
        print(f"  ratio train / (read+features)      = {train_s / (read_s + feat_s):.1f}")
        print(f"forecast:      {forecast_s:.2f} s for {issued.forecasts['station_id'].nunique()} stations "
              f"({len(issued.forecasts)} rows, {issued.notifications} notifications)")  # fmt: skip
        print(f"  ratio forecast / 900 s schedule budget = {forecast_s / 900:.4f}")
        print(f"  ratio forecast / bare SQL read          = {forecast_s / bare_read_s:.1f}")

        if args.skill_table:
            sub = stations[:20]
            b_start = END - pd.Timedelta(days=120)
            b_rain = rain[rain["station_id"].isin(sub)]
            b_readings = synthetic.sensor_readings(sub, b_start, END, rainfall=b_rain, seed=5)
            b_hourly = synthetic.hourly_means(b_readings)
            b_frame = features.build_features(b_hourly, b_rain)
            preds = pd.concat(
                [
                    backtest.rolling_origin_predictions(b_frame, p, n_folds=3, fold_hours=7 * 24)
                    for p in features.TARGET_PARAMETERS
                ]
            )
            print("\nbacktest (20 stations, 120 days, 15-min synthetic readings, 3 weekly folds):\n")
            print(backtest.skill_table_markdown(backtest.score(preds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
