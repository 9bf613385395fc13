"""The annual WQI trend (seasonal Mann-Kendall + Sen's slope) and the designated-use exceedances, pure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymannkendall
import pytest

from purehealth_pipelines.indices import criteria_exceedances, seasonal_trend
from purehealth_pipelines.indices.trend import seasonal_matrix

MONTHS = pd.date_range("2016-04-01", periods=8 * 12, freq="MS", tz="Asia/Kolkata")  # FY 2016-17 .. 2023-24


def _series(slope_per_year: float, noise_sd: float, seed: int) -> pd.Series:
    """A monsoon-shaped monthly WQI (±8 points) with a linear trend and noise, a few months not sampled."""
    rng = np.random.default_rng(seed)
    years = np.arange(len(MONTHS)) / 12.0
    season = 8.0 * np.sin(2 * np.pi * (MONTHS.month.to_numpy() - 6) / 12)
    values = 60.0 + season + slope_per_year * years + rng.normal(0, noise_sd, len(MONTHS))
    values[rng.choice(len(MONTHS), 6, replace=False)] = np.nan  # missed visits
    return pd.Series(values, index=MONTHS)


@pytest.mark.parametrize("slope", [-1.5, 0.8, 2.0])
def test_known_slope_is_recovered(slope: float) -> None:
    trend = seasonal_trend(_series(slope, noise_sd=1.0, seed=3))
    assert trend.trend == ("increasing" if slope > 0 else "decreasing")
    assert trend.p_value < 0.01 and trend.years == 8
    assert trend.sen_slope_per_year == pytest.approx(slope, abs=0.2)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_flat_noisy_series_is_no_trend(seed: int) -> None:
    trend = seasonal_trend(_series(0.0, noise_sd=4.0, seed=seed))
    assert trend.trend == "no trend" and trend.p_value > 0.05
    assert abs(trend.sen_slope_per_year) < 1.0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_trend_hidden_by_the_seasonal_cycle_is_found(seed: int) -> None:
    # +0.4 points a year under a ±8-point monsoon cycle: a plain Mann-Kendall test drowns it in the seasonal
    # variance; comparing each month only with the same month of other years finds it.
    series = _series(0.4, noise_sd=1.0, seed=seed)
    assert pymannkendall.original_test(series.dropna().to_numpy()).trend == "no trend"
    trend = seasonal_trend(series)
    assert trend.trend == "increasing" and trend.sen_slope_per_year == pytest.approx(0.4, abs=0.15)


def test_too_few_years_gives_no_verdict() -> None:
    short = _series(3.0, noise_sd=0.1, seed=1).iloc[:24]
    trend = seasonal_trend(short, min_years=3)
    assert trend.trend is None and trend.years == 2 and "needs 3" in (trend.note or "")


def test_seasonal_matrix_aligns_april_first_and_averages_double_samples() -> None:
    index = pd.DatetimeIndex(["2020-04-01", "2020-04-15", "2021-03-01", "2021-04-01"], tz="Asia/Kolkata")
    matrix = seasonal_matrix(pd.Series([10.0, 20.0, 30.0, 40.0], index=index))
    assert matrix.shape == (2, 12)
    assert matrix[0, 0] == 15.0 and matrix[0, 11] == 30.0 and matrix[1, 0] == 40.0
    assert np.isnan(matrix[1, 1:]).all()


def test_criteria_exceedances_per_designated_class() -> None:
    samples = pd.DataFrame(
        {
            "tc_mpn_100ml": [40.0, 900.0, np.nan],
            "ph": [7.2, 8.9, 6.2],
            "do_mg_l": [6.5, 3.5, 5.0],
            "bod_mg_l": [1.5, 4.0, 3.0],
        }
    )
    c = criteria_exceedances(samples, "C")
    assert list(c.columns) == ["tc_mpn_100ml > 5000", "ph outside 6–9", "do_mg_l < 4", "bod_mg_l > 3"]
    assert c["do_mg_l < 4"].tolist() == [False, True, False]
    assert c["bod_mg_l > 3"].tolist() == [False, True, False]  # 3 is within "≤ 3"
    assert c["tc_mpn_100ml > 5000"].isna().tolist() == [False, False, True]  # not measured: neither
    a = criteria_exceedances(samples, "A")
    assert a["tc_mpn_100ml > 50"].tolist()[:2] == [False, True]
    with pytest.raises(KeyError):
        criteria_exceedances(samples, "Z")
