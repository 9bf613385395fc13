"""Dagster assets of the marts domain: rollups, daily station WQI, station status, alerts.

Thin wrappers: SQL rollups in marts.rollups, WQI from purehealth_pipelines.indices via marts.wqi, alert
rules and state machine in marts.alerts. All follow core.readings with AutomationCondition.eager().
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from purehealth_pipelines import partitions
from purehealth_pipelines.asset_keys import CORE_READINGS, MART_FORECASTS
from purehealth_pipelines.marts.alerts import (
    evaluate_forecasts,
    evaluate_offline,
    evaluate_rules,
    load_rules,
    load_stored,
    reconcile,
    write_alerts,
)
from purehealth_pipelines.marts.rollups import ROLLUPS, replace_rollup
from purehealth_pipelines.marts.wqi import (
    DAILY_INPUTS_SQL,
    DEFAULT_MAX_LAB_AGE_DAYS,
    LAB_ONLY_INPUTS,
    WQI_PARAMETERS,
    station_wqi_daily,
)
from purehealth_pipelines.marts.wqi_samples import LAB_READINGS_SQL, LAB_SOURCES, lab_samples
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.table_metadata import table_schema_metadata
from purehealth_pipelines.warehouse.reader import read_frame

COMMON = {
    "group_name": "marts",
    "automation_condition": dg.AutomationCondition.eager(),
    "backfill_policy": partitions.single_run,
}
WQI_DO_SATURATION = "fixed"  # reproduces MPCB's published worked example (indices.wqi)


def _rollup_asset(name: str, partitions_def: dg.PartitionsDefinition, what: str):
    rollup = ROLLUPS[name]

    @dg.asset(
        key=["mart", f"readings_{name}"],
        deps=[CORE_READINGS],
        partitions_def=partitions_def,
        description=(
            f"{what} rollup of core.readings_preferred per station and parameter (IST buckets): mean, min, "
            "max and count of good readings (qc_flag = 1), plus the count of all readings. Dagster-maintained"
            " hypertable on both TimescaleDB editions; a re-run replaces the partition's buckets."
        ),
        **COMMON,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        window = context.partition_time_window
        with warehouse.connect() as conn:
            write = replace_rollup(conn, rollup, window.start, window.end)
        context.log.info(f"{rollup.table}: {write.rows_written} buckets in {write.seconds:.2f}s")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": write.rows_written,
                **table_schema_metadata(warehouse, rollup.table),
                "rows_replaced": write.rows_deleted,
                "write_seconds": round(write.seconds, 3),
            }
        )

    return _asset


readings_hourly = _rollup_asset("hourly", partitions.daily, "Hourly")
readings_daily = _rollup_asset("daily", partitions.daily, "Daily")
readings_weekly = _rollup_asset("weekly", partitions.weekly, "Weekly (Sunday-start)")


COLOCATION_SQL = """
SELECT station_id, colocated_lab_station_id FROM ref.stations WHERE colocated_lab_station_id IS NOT NULL
"""


class StationWqiDailyConfig(dg.Config):
    """How old a lab sample may be and still lend BOD/FC/TC to a live station's day."""

    max_lab_age_days: float = Field(
        default=DEFAULT_MAX_LAB_AGE_DAYS,
        description="oldest lab sample (days before the IST day starts) a station-day may take BOD/FC/TC",
    )


@dg.asset(
    key=["mart", "station_wqi_daily"],
    deps=[CORE_READINGS],
    partitions_def=partitions.daily,
    description=(
        "CPCB/MPCB 4-parameter WQI (NSF-based; DO saturation 'fixed' as in MPCB's reports), its label and "
        "band, and the CPCB designated-best-use class (A–E / Below-E, with missing parameters and failed "
        "criteria) per station and IST day, from the day's mean of good readings. A station-day without its "
        "own BOD, FC or TC (live sondes never measure them) takes them from the latest lab sample of the "
        "station or its co-located lab station (ref.stations.colocated_lab_station_id) no older than "
        "max_lab_age_days (default 45), with the sample's station, time and age in the row; else the WQI "
        "stays empty and wqi_note says why. Formulas: purehealth_pipelines.indices."
    ),
    **COMMON,
)
def station_wqi_daily_asset(
    context: dg.AssetExecutionContext, config: StationWqiDailyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    max_age = config.max_lab_age_days
    lookback = pd.Timedelta(days=max(2 * max_age, max_age + 30))  # far enough to name a too-old sample
    with warehouse.connect() as conn:
        daily = read_frame(
            conn,
            DAILY_INPUTS_SQL,
            {"start": window.start, "end": window.end, "parameters": list(WQI_PARAMETERS)},
        )
        lab_long = read_frame(
            conn,
            LAB_READINGS_SQL,
            {
                "start": pd.Timestamp(window.start) - lookback,
                "end": window.end,
                "sources": list(LAB_SOURCES),
                "parameters": list(LAB_ONLY_INPUTS),
            },
        )
        colocation = read_frame(conn, COLOCATION_SQL)
    frame = station_wqi_daily(
        daily,
        do_saturation=WQI_DO_SATURATION,
        lab_samples=lab_samples(lab_long, parameters=LAB_ONLY_INPUTS),
        colocation=dict(zip(colocation["station_id"], colocation["colocated_lab_station_id"], strict=True)),
        max_lab_age_days=max_age,
    )
    write = warehouse.write_partition(
        "mart.station_wqi_daily", frame, window.start, window.end, time_column="day"
    )
    with_wqi = frame[frame["wqi"].notna()] if not frame.empty else frame
    borrowed = int(frame["lab_sample_ts"].notna().sum()) if not frame.empty else 0
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": write.rows_written,
            **table_schema_metadata(warehouse, "mart.station_wqi_daily"),
            "station_days_with_wqi": len(with_wqi),
            "station_days_with_lab_inputs": borrowed,
            "max_lab_age_days": max_age,
            "mean_wqi": float(with_wqi["wqi"].mean()) if len(with_wqi) else None,
            "best_use_classes": dg.MetadataValue.json(
                {str(k): int(v) for k, v in frame["best_use_class"].value_counts(dropna=False).items()}
                if not frame.empty
                else {}
            ),
        }
    )


ALERT_READINGS_SQL = """
SELECT station_id, parameter, ts, value, qc_flag FROM core.readings_preferred
WHERE ts >= %(start)s AND ts < %(end)s AND parameter = ANY(%(parameters)s)
"""
LAST_LIVE_READING_SQL = """
SELECT station_id, max(ts) AS last_ts FROM core.readings
WHERE source = ANY(%(sources)s) AND ts >= %(since)s AND ts < %(as_of)s GROUP BY station_id
"""

# The latest forecast issue per station/parameter at or before as_of (live stations: every 15 min, the
# rest: daily, hence two days of look-back), and the forecast_alerts rows of exactly that issue.
FORECAST_ISSUES_CTE = """
WITH latest AS (
    SELECT station_id, parameter, max(issued_at) AS issued_at FROM mart.forecasts
    WHERE issued_at > %(since)s AND issued_at <= %(as_of)s AND parameter = ANY(%(parameters)s)
    GROUP BY station_id, parameter
)
"""
LATEST_FORECASTS_SQL = (
    FORECAST_ISSUES_CTE
    + """SELECT f.station_id, f.parameter, f.issued_at, f.horizon_h, f.ts, f.p50
FROM mart.forecasts f JOIN latest USING (station_id, parameter, issued_at)
WHERE f.issued_at > %(since)s AND f.issued_at <= %(as_of)s"""
)
LATEST_FORECAST_ALERTS_SQL = (
    FORECAST_ISSUES_CTE
    + """SELECT a.station_id, a.parameter, a.rule, a.issued_at, a.horizon_h, a.forecast_ts, a.p50
FROM mart.forecast_alerts a JOIN latest USING (station_id, parameter, issued_at)
WHERE a.issued_at > %(since)s AND a.issued_at <= %(as_of)s"""
)
FORECAST_ISSUE_LOOKBACK = pd.Timedelta(days=2)

# mart/forecasts is an unpartitioned, scheduled asset: its updates should trigger the alerts (forecast
# breaches reach operators within the 15-minute issue cycle), but a deployment that has never issued a
# forecast must not stop the readings' alerts, so it is ignored by eager()'s "any dependency missing" guard.
ALERTS_AUTOMATION = dg.AutomationCondition.eager().replace(
    "any_deps_missing",
    dg.AutomationCondition.any_deps_missing().ignore(dg.AssetSelection.assets(MART_FORECASTS)),
)


@dg.asset(
    key=["mart", "alerts"],
    deps=[CORE_READINGS, MART_FORECASTS],
    partitions_def=partitions.daily,
    description=(
        "Alerts from marts/alert_rules.yaml: CPCB class criteria breaches, DO below 4 mg/l, pH outside "
        "6.5–8.5, sudden jumps, live sensors offline, and forecast breaches (the latest forecast issue's P50 "
        "below DO 4 mg/l or outside pH 6.5–8.5 within 24 h, from mart.forecast_alerts). One event = one "
        "alert (cooldown), resolved when values (or a later forecast issue) recover; every new or changed "
        "alert is announced with pg_notify('purehealth_events', …) in the same transaction (the WebSocket "
        "broadcaster listens). Re-running a day changes nothing."
    ),
    **{**COMMON, "automation_condition": ALERTS_AUTOMATION},
)
def alerts_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    rules = load_rules()
    window = context.partition_time_window
    start = pd.Timestamp(window.start)
    end = pd.Timestamp(window.end)
    as_of = min(end, pd.Timestamp.now(tz="UTC"))
    lookback = max(
        (pd.Timedelta(minutes=float(r["within_minutes"])) for r in rules.jump_rules), default=pd.Timedelta(0)
    )
    with warehouse.connect() as conn:
        readings = read_frame(
            conn, ALERT_READINGS_SQL, {"start": start - lookback, "end": end, "parameters": rules.parameters}
        )
        last_live = read_frame(
            conn,
            LAST_LIVE_READING_SQL,
            {"sources": list(rules.offline_sources), "since": as_of - pd.Timedelta(days=7), "as_of": as_of},
        )
        issue_window = {
            "since": as_of - FORECAST_ISSUE_LOOKBACK,
            "as_of": as_of,
            "parameters": rules.forecast_parameters,
        }
        latest_forecasts = read_frame(conn, LATEST_FORECASTS_SQL, issue_window)
        latest_forecast_alerts = read_frame(conn, LATEST_FORECAST_ALERTS_SQL, issue_window)
        evaluations = evaluate_rules(readings, rules)
        if not evaluations.empty:
            evaluations = evaluations[evaluations["ts"] >= start]
        forecast_evaluations = evaluate_forecasts(latest_forecast_alerts, latest_forecasts, rules)
        evaluations = pd.concat(
            [
                e
                for e in (evaluations, evaluate_offline(last_live, as_of, rules), forecast_evaluations)
                if not e.empty
            ]
            or [evaluations],
            ignore_index=True,
        )
        stations = sorted(set(evaluations["station_id"])) if not evaluations.empty else []
        stored = load_stored(conn, stations)
        changed = reconcile(evaluations, stored, rules.cooldown)
        opened, updated = write_alerts(conn, changed, rules.version)
        open_now = conn.execute("SELECT count(*) FROM mart.alerts WHERE status = 'open'").fetchone()[0]
    context.log.info(f"alerts: {opened} opened, {updated} changed, {open_now} open in total")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": opened + updated,
            **table_schema_metadata(warehouse, "mart.alerts"),
            "opened": opened,
            "changed": updated,
            "open_alerts": int(open_now),
            "breaching_evaluations": int(evaluations["breached"].sum()) if not evaluations.empty else 0,
            "forecast_breaches": int(forecast_evaluations["breached"].sum()),
            "rules_version": rules.version,
        }
    )


STATION_LATEST_UPSERT = """
INSERT INTO mart.station_latest (station_id, parameter, ts, value, unit, censored, source, qc_flag, quality)
SELECT DISTINCT ON (station_id, parameter) station_id, parameter, ts, value, unit, censored, source, qc_flag,
       quality
FROM core.readings_preferred
WHERE ts >= %(start)s AND ts < %(end)s AND ts <= now() + %(clock_skew)s
ORDER BY station_id, parameter, ts DESC
ON CONFLICT (station_id, parameter) DO UPDATE SET
    ts = EXCLUDED.ts, value = EXCLUDED.value, unit = EXCLUDED.unit, censored = EXCLUDED.censored,
    source = EXCLUDED.source, qc_flag = EXCLUDED.qc_flag, quality = EXCLUDED.quality, updated_at = now()
WHERE EXCLUDED.ts >= mart.station_latest.ts
"""
# A reading stamped in the future is nobody's latest value (it would also freeze the row, which only moves
# forward); a few minutes of clock skew between a sensor and the server are tolerated.
LATEST_CLOCK_SKEW = pd.Timedelta(minutes=5)
FUTURE_LATEST_DELETE = "DELETE FROM mart.station_latest WHERE ts > now() + %(clock_skew)s"


@dg.asset(
    key=["mart", "station_status"],
    deps=[CORE_READINGS, dg.AssetKey(["mart", "station_wqi_daily"]), dg.AssetKey(["mart", "alerts"])],
    partitions_def=partitions.daily,
    description=(
        "Station status: latest value per parameter (mart.station_latest, only ever moved forward, never "
        "to a reading stamped in the future), joined "
        "in the view mart.station_status with the latest WQI and best-use class, sensor health (ok / "
        "degraded / offline, as of now()) and open alerts."
    ),
    **COMMON,
)
def station_status_asset(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    with warehouse.connect() as conn:
        with conn.transaction():
            skew = {"clock_skew": LATEST_CLOCK_SKEW.to_pytimedelta()}
            withdrawn = conn.execute(FUTURE_LATEST_DELETE, skew).rowcount
            moved = conn.execute(
                STATION_LATEST_UPSERT, {"start": window.start, "end": window.end, **skew}
            ).rowcount
        health = dict(
            conn.execute(
                "SELECT sensor_health, count(DISTINCT station_id) FROM mart.station_status GROUP BY 1"
            ).fetchall()
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": moved,
            **table_schema_metadata(warehouse, "mart.station_latest"),
            "future_latest_withdrawn": withdrawn,
            "sensor_health": dg.MetadataValue.json({str(k): int(v) for k, v in health.items()}),
        }
    )
