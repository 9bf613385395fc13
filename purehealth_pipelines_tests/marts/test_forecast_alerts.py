"""Forecast breaches as first-class mart.alerts, on the real TimescaleDB.

Forecast issues are published with the forecasting domain's own publish_forecasts (mart.forecasts +
mart.forecast_alerts in one transaction), then the mart/alerts asset turns the LATEST issue per
station/parameter into evaluations for the one alert state machine: open once, extend, resolve after the
cooldown, announce each change with pg_notify.
"""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest

from purehealth_pipelines.forecasting.publish import forecast_alerts, publish_forecasts
from purehealth_pipelines.live.channels import load_secret, unseal
from purehealth_pipelines.marts.alerts import evaluate_forecasts, load_rules
from purehealth_pipelines.marts.assets import alerts_asset
from purehealth_pipelines.resources import WarehouseResource

DAY = pd.Timestamp("2024-03-05", tz="Asia/Kolkata")
PARTITION = str(DAY.date())
HORIZONS = (1, 6, 24)


def _at(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"{DAY.date()} {hhmm}", tz="Asia/Kolkata").tz_convert("UTC")


def _issue(issued_at: pd.Timestamp, p50: dict[tuple[str, str], tuple[float, float, float]]) -> pd.DataFrame:
    """mart.forecasts rows of one issue: P50 per (station, parameter) at +1/+6/+24 h, P10/P90 around it."""
    rows = []
    for (station, parameter), values in p50.items():
        for horizon, value in zip(HORIZONS, values, strict=True):
            rows.append(
                {
                    "station_id": station,
                    "parameter": parameter,
                    "issued_at": issued_at,
                    "horizon_h": horizon,
                    "ts": issued_at + pd.Timedelta(hours=horizon),
                    "origin_ts": issued_at.floor("h"),
                    "p10": value - 0.5,
                    "p50": value,
                    "p90": value + 0.5,
                    "station_group": "live",
                    "model_version": "test",
                }
            )
    return pd.DataFrame(rows)


def _publish(wh: WarehouseResource, issued_at: pd.Timestamp, p50: dict) -> int:
    forecasts = _issue(issued_at, p50)
    alerts = forecast_alerts(forecasts)
    publish_forecasts(wh, forecasts, alerts, issued_at, "live")
    return len(alerts)


def _materialize_alerts(wh: WarehouseResource) -> list[dict]:
    """Run mart/alerts for the test day and return the alert notifications it sent."""
    with psycopg.connect(wh.url, autocommit=True) as listener:
        listener.execute("LISTEN purehealth_events")
        result = dg.materialize([alerts_asset], partition_key=PARTITION, resources={"warehouse": wh})
        assert result.success
        secret = load_secret(listener)
        notes = [json.loads(unseal(secret, n.channel, n.payload)) for n in listener.notifies(timeout=1.5)]
    return notes


def _alerts(wh: WarehouseResource) -> list[tuple]:
    with wh.connect() as conn:
        return conn.execute(
            "SELECT alert_id, station_id, parameter, rule, severity, status, first_seen, last_seen,"
            " resolved_at, breach_count, worst_value, threshold, message, rules_version"
            " FROM mart.alerts ORDER BY alert_id"
        ).fetchall()


@pytest.fixture(scope="module")
def wh(module_warehouse_url: str) -> WarehouseResource:
    return WarehouseResource(url=module_warehouse_url)


NORMAL_PH = (7.4, 7.5, 7.6)
NORMAL_DO = (6.0, 6.2, 6.1)


def test_forecast_breach_opens_one_alert_and_resolves_after_cooldown(wh: WarehouseResource) -> None:
    # B breached at 09:45 but its latest issue (10:00) does not: only the latest issue counts
    assert _publish(wh, _at("09:45"), {("IOT-F-B", "do_mg_l"): (5.0, 3.9, 3.5)}) == 2
    assert (
        _publish(
            wh,
            _at("10:00"),
            {
                ("IOT-F-A", "do_mg_l"): (4.6, 3.6, 3.1),  # +6 h and +24 h below 4 mg/l
                ("IOT-F-A", "ph"): NORMAL_PH,
                ("IOT-F-B", "do_mg_l"): NORMAL_DO,
            },
        )
        == 2
    )
    notes = _materialize_alerts(wh)
    rows = _alerts(wh)
    assert len(rows) == 1
    alert_id, station, parameter, rule, severity, status, first, last, resolved, count, worst = rows[0][:11]
    assert (station, parameter, rule, severity, status) == (
        "IOT-F-A",
        "do_mg_l",
        "forecast_do_below_4",
        "warning",
        "open",
    )
    assert (first, last, resolved, count) == (_at("10:00"), _at("10:00"), None, 1)
    assert worst == pytest.approx(3.1)  # the worst P50 within 24 h
    assert rows[0][11] == "P50 < 4" and "DO forecast below 4 mg/l within 24 h (P50)" in rows[0][12]
    assert rows[0][13] == load_rules().version
    assert [(n["type"], n["alert_id"], n["rule"], n["status"]) for n in notes] == [
        ("alert", alert_id, "forecast_do_below_4", "open")
    ]

    # re-running with the same latest issue changes and announces nothing
    assert _materialize_alerts(wh) == []
    assert _alerts(wh) == rows

    # a later breaching issue extends the same alert
    _publish(wh, _at("10:15"), {("IOT-F-A", "do_mg_l"): (4.2, 3.8, 3.4)})
    notes = _materialize_alerts(wh)
    rows = _alerts(wh)
    assert len(rows) == 1 and rows[0][5:10] == ("open", _at("10:00"), _at("10:15"), None, 2)
    assert [(n["type"], n["status"]) for n in notes] == [("alert", "open")]

    # recovered, but within the 60-minute cooldown of the last breaching issue: still open
    _publish(wh, _at("10:45"), {("IOT-F-A", "do_mg_l"): NORMAL_DO})
    assert _materialize_alerts(wh) == []
    assert _alerts(wh)[0][5] == "open"

    # still recovered a cooldown after the last breach: resolved at that issue, announced once
    _publish(wh, _at("11:15"), {("IOT-F-A", "do_mg_l"): NORMAL_DO})
    notes = _materialize_alerts(wh)
    rows = _alerts(wh)
    assert len(rows) == 1
    assert rows[0][5:10] == ("resolved", _at("10:00"), _at("10:15"), _at("11:15"), 2)
    assert [(n["type"], n["alert_id"], n["status"], n["resolved_at"]) for n in notes] == [
        ("alert", alert_id, "resolved", _at("11:15").isoformat())
    ]
    assert _materialize_alerts(wh) == []

    # a new breach within the cooldown after resolution re-opens the same alert (one event, one alert)
    _publish(wh, _at("11:45"), {("IOT-F-A", "do_mg_l"): (3.9, 3.9, 3.9)})
    notes = _materialize_alerts(wh)
    rows = _alerts(wh)
    assert (
        len(rows) == 1
        and rows[0][0] == alert_id
        and rows[0][5:10]
        == (
            "open",
            _at("10:00"),
            _at("11:45"),
            None,
            3,
        )
    )
    assert [(n["type"], n["status"]) for n in notes] == [("alert", "open")]


def _frames(
    issues: list[tuple[pd.Timestamp, tuple[float, float, float]]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    forecasts = pd.concat([_issue(at, {("S", "ph"): values}) for at, values in issues], ignore_index=True)
    return forecast_alerts(forecasts), forecasts


def test_evaluate_forecasts_uses_only_the_latest_issue_and_its_horizon_window() -> None:
    rules = load_rules()
    alerts, forecasts = _frames([(_at("09:00"), (9.0, 9.0, 9.0)), (_at("10:00"), (7.0, 8.0, 8.7))])
    evaluations = evaluate_forecasts(alerts, forecasts, rules).set_index("rule")
    assert set(evaluations.index) == {"forecast_ph_below_6_5", "forecast_ph_above_8_5"}
    assert (evaluations["ts"] == _at("10:00")).all()
    above = evaluations.loc["forecast_ph_above_8_5"]
    assert (
        bool(above["breached"]) and above["value"] == pytest.approx(8.7) and above["threshold"] == "P50 > 8.5"
    )
    below = evaluations.loc["forecast_ph_below_6_5"]
    assert not bool(below["breached"]) and below["value"] == pytest.approx(7.0)  # the P50 nearest the limit

    # a breach beyond within_hours does not count
    narrow = load_rules()
    for rule in narrow.forecast_rules:
        rule["within_hours"] = 6.0
    evaluations = evaluate_forecasts(alerts, forecasts, narrow).set_index("rule")
    assert not evaluations["breached"].any()
    assert evaluations.loc["forecast_ph_above_8_5", "value"] == pytest.approx(8.0)


def test_evaluate_forecasts_without_forecasts_is_empty() -> None:
    empty = evaluate_forecasts(pd.DataFrame(), pd.DataFrame(), load_rules())
    assert empty.empty
    alerts, forecasts = _frames([(_at("10:00"), (np.nan, np.nan, np.nan))])
    evaluations = evaluate_forecasts(alerts, forecasts, load_rules())
    assert not evaluations["breached"].any()
