"""Forecasting assets: ml/forecast_features, ml/models, ml/backtests, mart/forecasts (thin: service.py)."""

import dagster as dg
import pandas as pd

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS as READINGS
from purehealth_pipelines.forecasting import backtest, registry, service
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.table_metadata import json_safe, table_schema_metadata

GROUP = "forecasting"
KINDS = {"timescaledb", "python", "lightgbm"}
EXOGENOUS = [
    dg.AssetKey(["raw", "imd_rainfall"]),
    dg.AssetKey(["raw", "cwc_river_levels"]),
    dg.AssetKey(["raw", "satellite_indices"]),
]


class AsOfConfig(dg.Config):
    as_of: str | None = None  # ISO timestamp; default: the run's scheduled time, else now


class TrainingConfig(AsOfConfig):
    days: int = 365
    num_boost_round: int = 100


class BacktestConfig(AsOfConfig):
    days: int = 90
    n_folds: int = 3
    fold_hours: int = 168
    num_boost_round: int = 100


class ForecastConfig(AsOfConfig):
    station_group: str = "live"  # 'live' (IOT stations, every 15 min) or 'other' (daily)


def _as_of(context: dg.AssetExecutionContext, config: AsOfConfig) -> pd.Timestamp:
    if config.as_of:
        return (
            pd.Timestamp(config.as_of).tz_convert("UTC")
            if pd.Timestamp(config.as_of).tzinfo
            else pd.Timestamp(config.as_of, tz="UTC")
        )
    scheduled = context.run.tags.get("dagster/scheduled_execution_time")
    return pd.Timestamp(scheduled).tz_convert("UTC") if scheduled else pd.Timestamp.now(tz="UTC")


@dg.asset(
    key=["ml", "forecast_features"],
    deps=[READINGS, *EXOGENOUS],
    partitions_def=partitions.daily,
    backfill_policy=partitions.single_run,
    group_name=GROUP,
    description=(
        "Forecast features per station, parameter and hourly origin (lags, rolling statistics, calendar, "
        "IMD rainfall / CWC level / satellite indices as of the origin) plus the observed targets at "
        "+1/+6/+24 h. "
        "Each column uses only data available at the origin (publication latency included). Stored for audit "
        "and analysis; training recomputes the same features from core.readings."
    ),
)
def forecast_features(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    start, end = pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
    written = service.write_feature_partition(warehouse, start, end)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "window": f"[{start.isoformat()}, {end.isoformat()})",
            **table_schema_metadata(warehouse, "ml.forecast_features"),
        }
    )


@dg.asset(
    key=["ml", "models"],
    deps=[READINGS, *EXOGENOUS],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "LightGBM quantile models (P10/P50/P90) per parameter and horizon (1, 6, 24 h), trained on the last "
        "year of good hourly readings, stored as model text in ml.models with features, window, parameters "
        "and hold-out metrics. Each horizon is approved only when its P50 beats both persistence and "
        "seasonal naive on the hold-out slice."
    ),
)
def forecast_models(
    context: dg.AssetExecutionContext, config: TrainingConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    report = service.train_and_register(
        warehouse,
        _as_of(context, config),
        days=config.days,
        train_kwargs={"num_boost_round": config.num_boost_round},
    )
    lines = [
        "| parameter | h | hold-out skill vs persistence | vs seasonal naive | served | gate | status |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    lines += [
        f"| {p} | {h} | {k['vs_persistence']:+.3f} | {k['vs_seasonal_naive']:+.3f} "
        f"| {'yes' if k['served'] else 'no'} | {k.get('gate', '')} | {s['status']} |"
        for p, s in report.trained.items()
        for h, k in s["skill_per_horizon"].items()
    ]
    summary = registry.registry_summary(warehouse)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(s["boosters"] for s in report.trained.values()),
            **table_schema_metadata(warehouse, "ml.models"),
            "version": report.version,
            "training_window": f"[{report.window[0].isoformat()}, {report.window[1].isoformat()})",
            "models": dg.MetadataValue.md("\n".join(lines)),
            "skipped": dg.MetadataValue.json(report.skipped),
            "registry_versions": len(summary),
        }
    )


@dg.asset(
    key=["ml", "backtests"],
    deps=[READINGS, *EXOGENOUS],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "Rolling-origin backtest: MAE/RMSE per parameter and horizon, skill against persistence and "
        "seasonal-naive baselines, P10–P90 coverage (nominal 80 %). Stored in ml.backtests per run."
    ),
)
def forecast_backtests(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    report = service.run_backtest(
        warehouse,
        _as_of(context, config),
        days=config.days,
        n_folds=config.n_folds,
        fold_hours=config.fold_hours,
        train_kwargs={"num_boost_round": config.num_boost_round},
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(report.table),
            "run_id": report.run_id,
            "predictions_scored": len(report.predictions),
            "skill_table": dg.MetadataValue.md(backtest.skill_table_markdown(report.table)),
            "forecast_vs_actual": dg.MetadataValue.md(service.backtest_plot_markdown(report.predictions)),
            "mean_skill_vs_persistence": json_safe(
                report.table["skill_vs_persistence"].mean() if not report.table.empty else None
            ),
            **table_schema_metadata(warehouse, "ml.backtests"),
        }
    )


@dg.asset(
    key=["mart", "forecasts"],
    deps=[READINGS, *EXOGENOUS, dg.AssetKey(["ml", "models"])],
    group_name=GROUP,
    description=(
        "P10/P50/P90 forecasts at +1/+6/+24 h from the latest approved models: every 15 minutes for the live "
        "(IoT) stations, daily for the rest. Each run's rows are published to the WebSocket broadcaster "
        "(pg_notify 'purehealth_events') in the committing transaction; forecasts whose P50 breaks a CPCB "
        "criterion (DO < 4 mg/l, pH outside 6.5–8.5) go to mart.forecast_alerts."
    ),
)
def forecasts(
    context: dg.AssetExecutionContext, config: ForecastConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    report = service.issue_forecasts(warehouse, config.station_group, _as_of(context, config))
    if report.missing_models:
        context.log.warning(f"no approved model for {report.missing_models}: train ml/models first")
    latest = report.forecasts[report.forecasts["horizon_h"] == report.forecasts["horizon_h"].min()]
    preview = latest.head(20)[["station_id", "parameter", "ts", "p10", "p50", "p90"]].round(
        {"p10": 3, "p50": 3, "p90": 3}
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(report.forecasts),
            "issued_at": report.issued_at.isoformat(),
            "origin": report.origin.isoformat(),
            "station_group": report.station_group,
            "stations": int(report.forecasts["station_id"].nunique()),
            "forecast_alerts": len(report.alerts),
            "notifications": report.notifications,
            "model_versions": dg.MetadataValue.json(report.versions),
            "missing_models": dg.MetadataValue.json(report.missing_models),
            "preview": dg.MetadataValue.md(
                preview.to_markdown(index=False) if not preview.empty else "_none_"
            ),
            **table_schema_metadata(warehouse, "mart.forecasts"),
        }
    )
