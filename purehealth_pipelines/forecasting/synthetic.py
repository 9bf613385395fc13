"""Synthetic sensor readings with a learnable signal, for tests, the bench and offline demos.

The shapes follow docs/water_quality.md §4: DO has a diurnal cycle (photosynthesis: peak mid-afternoon,
minimum before dawn), is worst pre-monsoon (Apr–May) and lifted by monsoon dilution; turbidity jumps after
rain; conductivity drops with monsoon flow; pH follows DO's diurnal cycle a little. Each series adds AR(1)
noise (sensor drift/weather) and white noise, so persistence is a strong but beatable baseline. Deterministic
for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from purehealth_pipelines.forecasting.features import TIMEZONE
from purehealth_pipelines.vocabulary import QartodFlag

UNITS = {"do_mg_l": "mg/L", "ph": "pH units", "turbidity_ntu": "NTU", "ec_us_cm": "µS/cm"}


def daily_rainfall(
    stations: Sequence[str], start: pd.Timestamp, end: pd.Timestamp, seed: int = 7
) -> pd.DataFrame:
    """IMD-like daily rainfall per station (raw.imd_rainfall columns): ts = start of the IST day."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(
        pd.Timestamp(start).tz_convert(TIMEZONE).floor("D"), pd.Timestamp(end).tz_convert(TIMEZONE), freq="D"
    )
    monsoon = np.asarray(days.month.isin([6, 7, 8, 9]))[:, None]
    wet = rng.random((len(days), len(stations))) < np.where(monsoon, 0.55, 0.06)
    amount = rng.gamma(0.8, np.where(monsoon, 18.0, 6.0), size=(len(days), len(stations)))
    rain = np.where(wet, np.round(amount, 1), 0.0)
    return pd.DataFrame(
        {
            "station_id": np.tile(np.asarray(stations, dtype=object), len(days)),
            "parameter": "rainfall_mm",
            "ts": np.repeat(days.tz_convert("UTC").to_numpy(), len(stations)),
            "value": rain.reshape(-1),
            "unit": "mm",
            "method": "bilinear",
        }
    )


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, sigma: float) -> np.ndarray:
    shocks = rng.normal(0.0, sigma, size=shape)
    out = np.empty(shape)
    out[0] = shocks[0] / np.sqrt(1 - phi**2)
    for i in range(1, shape[0]):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def sensor_readings(
    stations: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    step: str = "15min",
    parameters: Sequence[str] = ("do_mg_l", "ph", "turbidity_ntu", "ec_us_cm"),
    rainfall: pd.DataFrame | None = None,
    seed: int = 11,
) -> pd.DataFrame:
    """Readings in core.readings columns (source 'iot', qc_flag 1) on [start, end) every `step`."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=step, inclusive="left")
    n_t, n_s = len(times), len(stations)
    steps_per_hour = pd.Timedelta("1h") / pd.Timedelta(step)
    local = times.tz_convert(TIMEZONE)
    hour = (local.hour + local.minute / 60).to_numpy()[:, None]
    doy = local.dayofyear.to_numpy()[:, None]
    diurnal = np.sin(2 * np.pi * (hour - 9) / 24)  # peak at 15:00 IST, minimum at 03:00
    # Pre-monsoon dip (peak mid-May, doy ~135) and monsoon lift (peak early August, doy ~215).
    pre_monsoon = np.exp(-0.5 * ((doy - 135) / 25) ** 2)
    monsoon = np.exp(-0.5 * ((doy - 215) / 35) ** 2)

    rain_effect = np.zeros((n_t, n_s))
    if rainfall is None:
        rainfall = daily_rainfall(stations, times[0], times[-1], seed=seed + 1)
    rain = rainfall.pivot_table(index="ts", columns="station_id", values="value").reindex(
        columns=list(stations)
    )
    rain.index = pd.to_datetime(rain.index, utc=True)
    # Rain of day d stirs up sediment from the day's end on, decaying over ~2 days (what the model can
    # see: yesterday's IMD total). Hourly impulse response, convolved per station.
    hourly_rain = (
        rain.reindex(pd.date_range(times[0].floor("D") - pd.Timedelta(days=3), times[-1], freq="h", tz="UTC"))
        .ffill()
        .fillna(0.0)
    )
    shifted = hourly_rain.shift(24).fillna(0.0)  # effective once the day's total is in
    response = np.exp(-np.arange(72) / 30.0)
    response /= response.sum() / 24
    for j in range(n_s):
        conv = np.convolve(shifted.iloc[:, j].to_numpy(), response)[: len(shifted)] / 24
        rain_effect[:, j] = pd.Series(conv, index=shifted.index).reindex(times, method="ffill").to_numpy()

    base_do = rng.uniform(3.5, 7.5, n_s)
    amp_do = rng.uniform(0.6, 1.6, n_s)
    base_turb = rng.uniform(5, 25, n_s)
    base_ec = rng.uniform(300, 2000, n_s)
    noise_phi = 0.97 ** (1 / steps_per_hour)
    frames = []
    for parameter in parameters:
        if parameter == "do_mg_l":
            value = base_do + amp_do * diurnal - 1.2 * pre_monsoon + 0.8 * monsoon - 0.02 * rain_effect
            value = value + _ar1(rng, (n_t, n_s), noise_phi, 0.06) + rng.normal(0, 0.12, (n_t, n_s))
            value = np.clip(value, 0.0, 14.0)
        elif parameter == "ph":
            value = 7.4 + 0.2 * diurnal * amp_do - 0.1 * monsoon
            value = value + _ar1(rng, (n_t, n_s), noise_phi, 0.015) + rng.normal(0, 0.03, (n_t, n_s))
        elif parameter == "turbidity_ntu":
            value = base_turb * (1 + 1.5 * monsoon) + 0.9 * rain_effect
            value = value + _ar1(rng, (n_t, n_s), noise_phi, 0.6) + rng.normal(0, 1.0, (n_t, n_s))
            value = np.clip(value, 0.1, None)
        elif parameter == "ec_us_cm":
            value = base_ec * (1 - 0.4 * monsoon) - 2.0 * rain_effect
            value = value + _ar1(rng, (n_t, n_s), noise_phi, 8.0) + rng.normal(0, 10.0, (n_t, n_s))
            value = np.clip(value, 20, None)
        else:
            raise ValueError(f"no synthetic model for {parameter!r}")
        frames.append(
            pd.DataFrame(
                {
                    "station_id": np.tile(np.asarray(stations, dtype=object), n_t),
                    "parameter": parameter,
                    "ts": np.repeat(times.to_numpy(), n_s),
                    "source": "iot",
                    "value": np.round(value.reshape(-1), 4),
                    "unit": UNITS[parameter],
                    "qc_flag": 1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def hourly_means(readings: pd.DataFrame) -> pd.DataFrame:
    """The in-memory twin of readings.read_hourly: mean of good readings per hour, labelled by the hour's end
    (readings in [ts - 1 h, ts) are labelled ts)."""
    good = readings[readings["qc_flag"] == QartodFlag.PASS]
    label = pd.to_datetime(good["ts"], utc=True).dt.floor("h") + pd.Timedelta(hours=1)
    return good.assign(ts=label).groupby(["station_id", "parameter", "ts"], as_index=False)["value"].mean()
