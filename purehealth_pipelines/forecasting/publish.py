"""Forecast alerts (pure rules), WebSocket payloads (pure), and the one transaction that publishes them.

The broadcaster listens on the PostgreSQL channel `purehealth_events`; NOTIFY is transactional, so sending
it in the transaction that commits the forecasts means a client never hears of a forecast that is not in
the table, and a rolled-back run announces nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from purehealth_pipelines.indices.best_use import cpcb_criterion
from purehealth_pipelines.live.channels import EVENTS_CHANNEL, MAX_PAYLOAD_BYTES, load_secret, seal
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.warehouse.writer import write_partition

# CPCB primary water-quality criteria (indices/best_use.py, the one home of the numbers): DO >= 4 mg/l is the
# floor of classes C and D; pH 6.5–8.5 is the range of classes A, B and D. A forecast P50 beyond them raises
# a forecast alert.
_DO_CLASS_C = cpcb_criterion("C", "do_mg_l")
_PH_CLASS_D = cpcb_criterion("D", "ph")
ALERT_RULES: tuple[dict[str, Any], ...] = (
    {"rule": "do_p50_below_4", "parameter": "do_mg_l", "op": "lt", "threshold": _DO_CLASS_C.minimum},
    {"rule": "ph_p50_below_6_5", "parameter": "ph", "op": "lt", "threshold": _PH_CLASS_D.minimum},
    {"rule": "ph_p50_above_8_5", "parameter": "ph", "op": "gt", "threshold": _PH_CLASS_D.maximum},
)

ALERT_COLUMNS = [
    "station_id", "parameter", "rule", "threshold", "issued_at", "horizon_h", "forecast_ts",
    "p10", "p50", "p90", "station_group", "model_version",
]  # fmt: skip


def forecast_alerts(forecasts: pd.DataFrame) -> pd.DataFrame:
    """One row per forecast (station, parameter, horizon) whose P50 breaks an ALERT_RULES criterion."""
    frames = []
    for rule in ALERT_RULES:
        rows = forecasts[forecasts["parameter"] == rule["parameter"]]
        p50 = rows["p50"].to_numpy(dtype="float64")
        hit = p50 < rule["threshold"] if rule["op"] == "lt" else p50 > rule["threshold"]
        if hit.any():
            frames.append(
                rows[hit]
                .assign(rule=rule["rule"], threshold=rule["threshold"])
                .rename(columns={"ts": "forecast_ts"})
            )
    if not frames:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[ALERT_COLUMNS]


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _num(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)


def forecast_payloads(forecasts: pd.DataFrame) -> list[str]:
    """One JSON message per (station, parameter): the contract the broadcaster forwards to clients."""
    payloads = []
    for (station, parameter, issued_at), group in forecasts.groupby(
        ["station_id", "parameter", "issued_at"], sort=True
    ):
        message = {
            "type": "forecast",
            "station_id": station,
            "parameter": parameter,
            "issued_at": _iso(issued_at),
            "horizons": [
                {
                    "h": int(r.horizon_h),
                    "ts": _iso(r.ts),
                    "p10": _num(r.p10),
                    "p50": _num(r.p50),
                    "p90": _num(r.p90),
                }
                for r in group.sort_values("horizon_h").itertuples()
            ],
        }
        payloads.append(_checked(message))
    return payloads


def alert_payloads(alerts: pd.DataFrame) -> list[str]:
    """One JSON message per forecast alert row."""
    return [
        _checked(
            {
                "type": "forecast_alert",
                "station_id": r.station_id,
                "parameter": r.parameter,
                "rule": r.rule,
                "threshold": float(r.threshold),
                "issued_at": _iso(r.issued_at),
                "h": int(r.horizon_h),
                "forecast_ts": _iso(r.forecast_ts),
                "p10": _num(r.p10),
                "p50": _num(r.p50),
                "p90": _num(r.p90),
            }
        )
        for r in alerts.itertuples()
    ]


def _checked(message: dict[str, Any]) -> str:
    text = json.dumps(message, separators=(",", ":"))
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"NOTIFY payload of {len(text.encode())} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return text


def publish_forecasts(
    warehouse: WarehouseResource,
    forecasts: pd.DataFrame,
    alerts: pd.DataFrame,
    issued_at: pd.Timestamp,
    station_group: str,
) -> tuple[int, int, int]:
    """Replace this issue slot's forecasts and alerts of `station_group`, and NOTIFY, in one transaction.

    Returns (forecast rows, alert rows, notifications)."""
    window = (issued_at.to_pydatetime(), (issued_at + pd.Timedelta(seconds=1)).to_pydatetime())
    scope = {"station_group": station_group}
    payloads: Iterable[str] = [*forecast_payloads(forecasts), *alert_payloads(alerts)]
    with warehouse.connect() as conn, conn.transaction():
        written = write_partition(
            conn, "mart.forecasts", forecasts, *window, time_column="issued_at", scope=scope
        )
        raised = write_partition(
            conn, "mart.forecast_alerts", alerts, *window, time_column="issued_at", scope=scope
        )
        sent = 0
        secret = load_secret(conn)
        with conn.cursor() as cur:
            for payload in payloads:
                cur.execute(
                    "SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, seal(secret, EVENTS_CHANNEL, payload))
                )
                sent += 1
    return written.rows_written, raised.rows_written, sent
