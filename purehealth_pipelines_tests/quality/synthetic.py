"""Realistic sensor series for tests: diurnal DO, temperature, pH at 15-min steps; faults injected by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = pd.Timestamp("2024-03-05", tz="Asia/Kolkata")
CONTEXT_FROM = DAY - pd.Timedelta(hours=6)  # the scorer's 6 h lookback
CONTEXT_TO = DAY + pd.Timedelta(days=1, hours=1)  # and its 1 h lookahead

# (mean, diurnal amplitude, noise sd, unit as a sensor reports it) — Krishna-like clean river, WQ §4.
PARAMETERS = {
    "temp_c": (27.0, 1.5, 0.02, "°C"),
    "do_mg_l": (6.5, 0.8, 0.02, "mg/l"),
    "ph": (7.6, 0.15, 0.005, "pH"),
    "ec_us_cm": (450.0, 15.0, 1.0, "µS/cm"),
}


def sensor_frame(
    station_id: str,
    start: pd.Timestamp = CONTEXT_FROM,
    end: pd.Timestamp = CONTEXT_TO,
    parameters: dict | None = None,
    seed: int = 7,
) -> pd.DataFrame:
    """Long rows (station_id, parameter, ts, value, unit) as raw.sensor_readings shows them."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, end, freq="15min", inclusive="left")
    hours = ((ts.tz_convert("Asia/Kolkata").hour + ts.minute / 60.0) - 15.0) / 24.0 * 2 * np.pi
    frames = []
    for parameter, (mean, amplitude, noise, unit) in (parameters or PARAMETERS).items():
        values = mean + amplitude * np.cos(hours) + rng.normal(0, noise, len(ts))
        frames.append(
            pd.DataFrame(
                {"station_id": station_id, "parameter": parameter, "ts": ts, "value": values, "unit": unit}
            )
        )
    return pd.concat(frames, ignore_index=True)
