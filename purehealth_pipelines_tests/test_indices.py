"""Tests for purehealth_pipelines.indices: CPCB/MPCB WQI and CPCB designated-best-use classes.

Expected numbers are literals worked out by hand from docs/water_quality.md §1–2, not
recomputed with the code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.indices import (
    best_use_class,
    bod_subindex,
    classify_wqi,
    cpcb_wqi,
    do_saturation_pct,
    do_subindex,
    fc_subindex,
    ph_subindex,
)

# MPCB Water Quality Status of Maharashtra 2023-24, station 1153 Krishna at Rajapur Weir, April.
SubIndex = Callable[[Any], Any]

GOLDEN = {"bod_mg_l": 2.2, "do_mg_l": 5.5, "fc_mpn_100ml": 6.0, "ph": 7.6, "temp_c": 25.0}


def _frame(**columns: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------------------------------
# WQI: golden case
# --------------------------------------------------------------------------------------------------


def test_golden_case_fixed_matches_published_report() -> None:
    out = cpcb_wqi(pd.DataFrame([GOLDEN]), do_saturation="fixed").iloc[0]
    # Published sub-indices. MPCB rounded intermediates by hand (%sat 84.61, log 6 = 0.778), so DO and FC
    # differ from exact arithmetic in the second decimal; allow one unit there.
    assert out["si_bod"] == pytest.approx(81.27, abs=0.005)
    assert out["si_ph"] == pytest.approx(90.10, abs=0.005)
    assert out["si_do"] == pytest.approx(85.44, abs=0.011)
    assert out["si_fc"] == pytest.approx(76.51, abs=0.011)
    assert out["wqi"] == pytest.approx(83.16, abs=0.015)
    assert out["wqi_label"] == "Good to Excellent"
    assert out["wqi_class"] == "A"


def test_golden_case_fixed_exact_arithmetic() -> None:
    # Pin what exact arithmetic gives, so a change to any coefficient is caught to 2 decimals.
    out = cpcb_wqi(pd.DataFrame([GOLDEN]), do_saturation="fixed").iloc[0]
    assert round(out["do_sat_pct"], 2) == 84.62
    assert round(out["si_do"], 2) == 85.45
    assert round(out["si_fc"], 2) == 76.50
    assert round(out["si_ph"], 2) == 90.10
    assert round(out["si_bod"], 2) == 81.27
    assert round(out["wqi"], 2) == 83.17


def test_golden_case_temperature_method_at_25c() -> None:
    out = cpcb_wqi(pd.DataFrame([GOLDEN]), do_saturation="temperature").iloc[0]
    # Cs(25) = 14.59 - 9.8875 + 4.5 - 0.9671875 = 8.2353125 mg/l -> 66.79 %sat
    assert out["do_sat_pct"] == pytest.approx(66.7856, abs=1e-3)
    assert out["si_do"] == pytest.approx(64.589, abs=1e-3)
    assert out["si_fc"] == pytest.approx(76.501, abs=1e-3)  # other sub-indices do not depend on DO method
    assert out["wqi"] == pytest.approx(76.7, abs=0.05)
    assert out["wqi_label"] == "Good to Excellent"


def test_methods_differ_and_fixed_ignores_temperature() -> None:
    frame = pd.DataFrame([GOLDEN, {**GOLDEN, "temp_c": 10.0}])
    fixed = cpcb_wqi(frame, do_saturation="fixed")
    temperature = cpcb_wqi(frame, do_saturation="temperature")
    assert fixed["wqi"].iloc[0] == fixed["wqi"].iloc[1]
    assert temperature["wqi"].iloc[0] != temperature["wqi"].iloc[1]
    assert temperature["wqi"].iloc[0] < fixed["wqi"].iloc[0]


# --------------------------------------------------------------------------------------------------
# DO saturation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("do_mg_l", "temp_c", "method", "expected"),
    [
        (6.5, None, "fixed", 100.0),
        (3.25, None, "fixed", 50.0),
        (0.0, None, "fixed", 0.0),
        (8.2353125, 25.0, "temperature", 100.0),  # Cs(25 °C)
        (9.0648, 20.0, "temperature", 100.0),  # Cs(20) = 14.59 - 7.91 + 2.88 - 0.4952
        (4.11765625, 25.0, "temperature", 50.0),
        (14.59, 0.0, "temperature", 100.0),  # Cs(0) = 14.59
    ],
)
def test_do_saturation_pct_scalar(do_mg_l: float, temp_c: float | None, method: str, expected: float) -> None:
    assert do_saturation_pct(do_mg_l, temp_c, method=method) == pytest.approx(expected, abs=1e-9)


def test_do_saturation_pct_vectorised_keeps_series_index_and_nan() -> None:
    do = pd.Series([6.5, np.nan, 8.2353125], index=["x", "y", "z"])
    temp = pd.Series([25.0, 25.0, np.nan], index=["x", "y", "z"])
    fixed = do_saturation_pct(do)
    assert list(fixed.index) == ["x", "y", "z"]
    assert fixed["x"] == pytest.approx(100.0)
    assert np.isnan(fixed["y"])
    by_temp = do_saturation_pct(do, temp, method="temperature")
    assert by_temp["x"] == pytest.approx(78.93, abs=0.01)
    assert np.isnan(by_temp["y"]) and np.isnan(by_temp["z"])
    arr = do_saturation_pct(np.array([6.5, 13.0]))
    assert isinstance(arr, np.ndarray)
    np.testing.assert_allclose(arr, [100.0, 200.0])


def test_do_saturation_pct_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="temp_c"):
        do_saturation_pct(5.0, method="temperature")
    with pytest.raises(ValueError, match="unknown DO saturation method"):
        do_saturation_pct(5.0, method="salinity")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Sub-index curves: values inside each segment, at each breakpoint (upper-inclusive) and just above it
# --------------------------------------------------------------------------------------------------

SUBINDEX_POINTS = [
    # DO % saturation: 0–40, 40–100, 100–140, > 140
    (do_subindex, 0.0, 0.18),
    (do_subindex, 20.0, 13.38),
    (do_subindex, 40.0, 26.58),  # 40 is on the 0–40 line
    (do_subindex, 40.000001, 33.25),  # just above: 40–100 line (the curve jumps up)
    (do_subindex, 70.0, 68.35),
    (do_subindex, 100.0, 103.45),  # reference edge fact, not capped
    (do_subindex, 100.000001, 101.34),
    (do_subindex, 120.0, 88.94),
    (do_subindex, 140.0, 76.54),
    (do_subindex, 140.000001, 50.0),
    (do_subindex, 250.0, 50.0),
    # FC MPN/100 ml: < 1, 1–10³, 10³–10⁵, > 10⁵
    (fc_subindex, 0.0, 100.0),
    (fc_subindex, 0.999, 100.0),
    (fc_subindex, 1.0, 97.2),
    (fc_subindex, 10.0, 70.6),
    (fc_subindex, 100.0, 44.0),
    (fc_subindex, 1000.0, 17.4),  # 10³ is on the 1–10³ line
    (fc_subindex, 1000.0001, 19.08),  # just above: 10³–10⁵ line
    (fc_subindex, 1600.0, 17.4981),  # censored ">1600" arrives as 1600
    (fc_subindex, 1e4, 11.33),
    (fc_subindex, 1e5, 3.58),
    (fc_subindex, 1e5 + 1, 2.0),
    (fc_subindex, 1e7, 2.0),
    # pH: < 2, 2–5, 5–7.3, 7.3–10, 10–12, > 12
    (ph_subindex, 1.99, 0.0),
    (ph_subindex, 2.0, 30.8),
    (ph_subindex, 5.0, 52.85),  # reference: the curve jumps at 5 from 52.9 ...
    (ph_subindex, 5.000001, 24.83),  # ... to 24.8
    (ph_subindex, 7.0, 91.83),
    (ph_subindex, 7.3, 101.88),  # reference edge fact 101.9, not capped
    (ph_subindex, 7.300001, 99.055),
    (ph_subindex, 8.5, 63.235),
    (ph_subindex, 10.0, 18.46),
    (ph_subindex, 10.000001, 16.17),
    (ph_subindex, 12.0, 0.17),
    (ph_subindex, 12.01, 0.0),
    # BOD mg/l: 0–10, 10–30, > 30
    (bod_subindex, 0.0, 96.67),
    (bod_subindex, 3.0, 75.67),
    (bod_subindex, 10.0, 26.67),  # 10 is on the 0–10 line
    (bod_subindex, 10.000001, 26.6),
    (bod_subindex, 20.0, 14.3),
    (bod_subindex, 30.0, 2.0),
    (bod_subindex, 30.01, 2.0),
    (bod_subindex, 100.0, 2.0),
]


@pytest.mark.parametrize(
    ("func", "x", "expected"), SUBINDEX_POINTS, ids=[f"{f.__name__}({x})" for f, x, _ in SUBINDEX_POINTS]
)
def test_subindex_points(func: SubIndex, x: float, expected: float) -> None:
    assert func(x) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("func", "lower", "upper", "kind"),
    [
        (do_subindex, 0.0, 40.0, "linear"),
        (do_subindex, 40.0, 100.0, "linear"),
        (do_subindex, 100.0, 140.0, "linear"),
        (fc_subindex, 1.0, 1e3, "log"),
        (fc_subindex, 1e3, 1e5, "log"),
        (ph_subindex, 2.0, 5.0, "linear"),
        (ph_subindex, 5.0, 7.3, "linear"),
        (ph_subindex, 7.3, 10.0, "linear"),
        (ph_subindex, 10.0, 12.0, "linear"),
        (bod_subindex, 0.0, 10.0, "linear"),
        (bod_subindex, 10.0, 30.0, "linear"),
    ],
)
def test_each_segment_is_one_continuous_line(func: SubIndex, lower: float, upper: float, kind: str) -> None:
    """Inside a segment the curve is one straight line (in x, or in log10 x for FC): no hidden breaks."""
    x = np.linspace(lower, upper, 51)[1:-1]  # open interior
    y = np.asarray(func(x))
    axis = np.log10(x) if kind == "log" else x
    slope = np.diff(y) / np.diff(axis)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-6)
    assert np.all(np.isfinite(y))


def test_subindex_series_keeps_index_and_propagates_nan() -> None:
    s = pd.Series([7.6, np.nan, None], index=[5, 6, 7], dtype="float64")
    out = ph_subindex(s)
    assert isinstance(out, pd.Series)
    assert list(out.index) == [5, 6, 7]
    assert out[5] == pytest.approx(90.10)
    assert out[[6, 7]].isna().all()
    nullable = pd.Series([2.2, pd.NA], dtype="Float64")
    out = bod_subindex(nullable)
    assert out.iloc[0] == pytest.approx(81.27) and np.isnan(out.iloc[1])


@pytest.mark.parametrize("func", [do_subindex, fc_subindex, ph_subindex, bod_subindex])
def test_subindex_nan_in_nan_out(func: SubIndex) -> None:
    assert np.isnan(func(np.nan))
    assert np.isnan(func(None))


@pytest.mark.parametrize("func", [do_subindex, fc_subindex, bod_subindex])
def test_subindex_impossible_negative_is_nan(func: SubIndex) -> None:
    assert np.isnan(func(-0.1))


# --------------------------------------------------------------------------------------------------
# WQI bands, capping, missing data, errors
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wqi", "label", "letter"),
    [
        (100.0, "Good to Excellent", "A"),
        (63.0, "Good to Excellent", "A"),
        (62.999, "Medium to Good", "B"),
        (50.0, "Medium to Good", "B"),
        (49.999, "Bad", "C"),
        (38.0, "Bad", "C"),
        (37.999, "Bad to Very Bad", "D/E"),
        (0.0, "Bad to Very Bad", "D/E"),
    ],
)
def test_wqi_band_edges(wqi: float, label: str, letter: str) -> None:
    out = classify_wqi(pd.Series([wqi]))
    assert out["wqi_label"].iloc[0] == label
    assert out["wqi_class"].iloc[0] == letter


def test_wqi_band_missing_is_missing() -> None:
    out = classify_wqi(pd.Series([np.nan, 70.0], index=["a", "b"]))
    assert list(out.index) == ["a", "b"]
    assert pd.isna(out.loc["a", "wqi_label"]) and pd.isna(out.loc["a", "wqi_class"])
    assert out.loc["b", "wqi_label"] == "Good to Excellent"


def test_cpcb_wqi_bands_end_to_end() -> None:
    # Hand-computed sub-indices (DO %sat, BOD, FC, pH) and WQI:
    #   golden                              -> 83.17 A
    #   DO 4 (58.45), BOD 4 (68.67), FC 200 (35.99), pH 7.6 (90.10)   -> 61.07 B
    #   DO 3 (40.45), BOD 6 (54.67), FC 1000 (17.40), pH 7.6 (90.10)  -> 47.62 C
    #   DO 2 (20.49), BOD 12 (24.14), FC 2000 (16.75), pH 7.6 (90.10) -> 35.45 D/E
    frame = _frame(
        do_mg_l=[5.5, 4.0, 3.0, 2.0],
        bod_mg_l=[2.2, 4.0, 6.0, 12.0],
        fc_mpn_100ml=[6.0, 200.0, 1000.0, 2000.0],
        ph=[7.6, 7.6, 7.6, 7.6],
    )
    out = cpcb_wqi(frame)
    np.testing.assert_allclose(out["wqi"], [83.173, 61.067, 47.621, 35.449], atol=0.001)
    assert list(out["wqi_class"]) == ["A", "B", "C", "D/E"]
    assert list(out["wqi_label"]) == ["Good to Excellent", "Medium to Good", "Bad", "Bad to Very Bad"]


def test_wqi_is_clipped_to_100_but_subindices_are_not() -> None:
    # DO 100 %sat (103.45), FC < 1 (100), pH 7.3 (101.88), BOD 0 (96.67): raw 100.85
    out = cpcb_wqi(_frame(do_mg_l=[6.5], bod_mg_l=[0.0], fc_mpn_100ml=[0.0], ph=[7.3])).iloc[0]
    assert out["si_do"] == pytest.approx(103.45)
    assert out["si_ph"] == pytest.approx(101.88)
    raw = 0.31 * out["si_do"] + 0.28 * out["si_fc"] + 0.22 * out["si_ph"] + 0.19 * out["si_bod"]
    assert raw == pytest.approx(100.85, abs=0.01)
    assert out["wqi"] == 100.0
    assert out["wqi_label"] == "Good to Excellent"


def test_worst_sample_stays_non_negative() -> None:
    # DO 0 (0.18), FC > 10⁵ (2), pH 1 (0), BOD > 30 (2): 0.0558 + 0.56 + 0 + 0.38 = 0.9958
    out = cpcb_wqi(_frame(do_mg_l=[0.0], bod_mg_l=[50.0], fc_mpn_100ml=[1e6], ph=[1.0])).iloc[0]
    assert out["wqi"] == pytest.approx(0.9958, abs=1e-4)
    assert out["wqi_class"] == "D/E"


@pytest.mark.parametrize("missing", ["do_mg_l", "bod_mg_l", "ph", "fc_mpn_100ml", "temp_c"])
def test_missing_input_gives_nan_wqi_and_missing_label(missing: str) -> None:
    rows = [dict(GOLDEN), dict(GOLDEN)]
    rows[1][missing] = None
    frame = pd.DataFrame(rows, index=["ok", "gap"])
    method = "temperature" if missing == "temp_c" else "fixed"
    out = cpcb_wqi(frame, do_saturation=method)
    assert list(out.index) == ["ok", "gap"]
    assert not np.isnan(out.loc["ok", "wqi"])
    assert np.isnan(out.loc["gap", "wqi"])
    assert pd.isna(out.loc["gap", "wqi_label"]) and pd.isna(out.loc["gap", "wqi_class"])
    # the sub-indices whose own inputs are present are still reported
    present = {"do_mg_l": "si_do", "bod_mg_l": "si_bod", "ph": "si_ph", "fc_mpn_100ml": "si_fc"}
    for column, si in present.items():
        affected = column == missing or (missing == "temp_c" and si == "si_do")
        assert np.isnan(out.loc["gap", si]) == affected


def test_nullable_float_columns_are_accepted() -> None:
    frame = pd.DataFrame(
        {
            "do_mg_l": pd.array([5.5, pd.NA], dtype="Float64"),
            "bod_mg_l": pd.array([2.2, 2.2], dtype="Float64"),
            "ph": pd.array([7.6, 7.6], dtype="Float64"),
            "fc_mpn_100ml": pd.array([6, 6], dtype="Int64"),
        }
    )
    out = cpcb_wqi(frame)
    assert round(out["wqi"].iloc[0], 2) == 83.17
    assert np.isnan(out["wqi"].iloc[1]) and pd.isna(out["wqi_label"].iloc[1])


def test_output_columns_and_index() -> None:
    frame = pd.DataFrame([GOLDEN], index=pd.Index(["s1153-2023-04"], name="sample"))
    out = cpcb_wqi(frame)
    assert list(out.columns) == [
        "do_sat_pct",
        "si_do",
        "si_fc",
        "si_ph",
        "si_bod",
        "wqi",
        "wqi_label",
        "wqi_class",
    ]
    assert out.index.equals(frame.index)


@pytest.mark.parametrize("column", ["do_mg_l", "bod_mg_l", "ph", "fc_mpn_100ml"])
def test_missing_required_column_raises(column: str) -> None:
    frame = pd.DataFrame([GOLDEN]).drop(columns=[column])
    with pytest.raises(ValueError, match=column):
        cpcb_wqi(frame)


def test_temperature_method_requires_temp_column_but_fixed_does_not() -> None:
    frame = pd.DataFrame([GOLDEN]).drop(columns=["temp_c"])
    assert round(cpcb_wqi(frame)["wqi"].iloc[0], 2) == 83.17
    with pytest.raises(ValueError, match="temp_c"):
        cpcb_wqi(frame, do_saturation="temperature")


def test_unknown_method_and_non_numeric_column_raise() -> None:
    with pytest.raises(ValueError, match="unknown do_saturation"):
        cpcb_wqi(pd.DataFrame([GOLDEN]), do_saturation="kelvin")  # type: ignore[arg-type]
    frame = pd.DataFrame([{**GOLDEN, "fc_mpn_100ml": ">1600"}])
    with pytest.raises(ValueError, match="fc_mpn_100ml"):
        cpcb_wqi(frame)


# --------------------------------------------------------------------------------------------------
# CPCB designated best use
# --------------------------------------------------------------------------------------------------

# A sample meeting every criterion of every class.
CLEAN = {
    "tc_mpn_100ml": 10.0,
    "ph": 7.5,
    "do_mg_l": 7.0,
    "bod_mg_l": 1.0,
    "free_ammonia_n_mg_l": 0.1,
    "ec_us_cm": 500.0,
    "sar": 2.0,
    "boron_mg_l": 0.5,
}
# Bases that sit in class B, C, D, E with room on every other criterion.
BASE = {
    "A": CLEAN,
    "B": {**CLEAN, "tc_mpn_100ml": 200.0},
    "C": {**CLEAN, "tc_mpn_100ml": 1000.0},
    "D": {**CLEAN, "tc_mpn_100ml": 10000.0},
    "E": {**CLEAN, "tc_mpn_100ml": 10000.0, "do_mg_l": 3.0},
}

BOUNDARY_CASES = [
    # (class, parameter, value at the limit -> class, value just past -> expected)
    ("A", "tc_mpn_100ml", 50.0, 51.0, "B"),
    ("A", "ph", 6.5, 6.49, "C"),  # B has the same pH range; C allows 6–9
    ("A", "ph", 8.5, 8.51, "C"),
    ("A", "do_mg_l", 6.0, 5.99, "B"),
    ("A", "bod_mg_l", 2.0, 2.01, "B"),
    ("B", "tc_mpn_100ml", 500.0, 501.0, "C"),
    ("B", "ph", 6.5, 6.49, "C"),
    ("B", "ph", 8.5, 8.51, "C"),
    ("B", "do_mg_l", 5.0, 4.99, "C"),
    ("B", "bod_mg_l", 3.0, 3.01, "D"),  # C has the same BOD limit; D has none
    ("C", "tc_mpn_100ml", 5000.0, 5001.0, "D"),
    ("C", "ph", 6.0, 5.99, "Below-E"),  # D needs 6.5, E needs 6.0
    ("C", "ph", 9.0, 9.01, "Below-E"),  # D and E stop at 8.5
    ("C", "do_mg_l", 4.0, 3.99, "E"),  # D needs DO >= 4 too
    ("C", "bod_mg_l", 3.0, 3.01, "D"),
    ("D", "ph", 6.5, 6.49, "E"),
    ("D", "ph", 8.5, 8.51, "Below-E"),
    ("D", "do_mg_l", 4.0, 3.99, "E"),
    ("D", "free_ammonia_n_mg_l", 1.2, 1.21, "E"),
    ("E", "ph", 6.0, 5.99, "Below-E"),
    ("E", "ph", 8.5, 8.51, "Below-E"),
    ("E", "ec_us_cm", 2250.0, 2251.0, "Below-E"),
    ("E", "sar", 26.0, 26.1, "Below-E"),
    ("E", "boron_mg_l", 2.0, 2.01, "Below-E"),
]


@pytest.mark.parametrize(
    ("cls", "parameter", "at_limit", "past_limit", "past_class"),
    BOUNDARY_CASES,
    ids=[f"{c}-{p}-{a}" for c, p, a, _, _ in BOUNDARY_CASES],
)
def test_best_use_criterion_boundaries(
    cls: str, parameter: str, at_limit: float, past_limit: float, past_class: str
) -> None:
    frame = pd.DataFrame([{**BASE[cls], parameter: at_limit}, {**BASE[cls], parameter: past_limit}])
    out = best_use_class(frame)
    assert out["best_use_class"].iloc[0] == cls  # exactly at the limit passes
    assert out["best_use_class"].iloc[1] == past_class  # just past fails
    assert list(out["missing_parameters"]) == ["", ""]


def test_best_use_bases_are_what_the_boundary_table_assumes() -> None:
    out = best_use_class(pd.DataFrame(list(BASE.values())))
    assert list(out["best_use_class"]) == list(BASE)


def test_below_e_lists_the_failed_e_criteria() -> None:
    sample = {**CLEAN, "ph": 9.5, "ec_us_cm": 3000.0}  # pH 9.5 is above every class range (C stops at 9)
    out = best_use_class(pd.DataFrame([sample])).iloc[0]
    assert out["best_use_class"] == "Below-E"
    assert out["missing_parameters"] == ""
    assert out["failed_criteria"] == "E: ph outside 6–8.5; ec_us_cm > 2250"


def test_failed_criteria_explains_the_class_above() -> None:
    frame = pd.DataFrame([CLEAN, {**CLEAN, "tc_mpn_100ml": 1000.0, "bod_mg_l": 2.5}])
    out = best_use_class(frame)
    assert list(out["best_use_class"]) == ["A", "C"]
    assert list(out["failed_criteria"]) == ["", "B: tc_mpn_100ml > 500"]


def test_undecidable_when_needed_parameter_is_missing() -> None:
    # All measured A criteria are met, total coliform not measured: A can be neither met nor failed.
    out = best_use_class(pd.DataFrame([{**CLEAN, "tc_mpn_100ml": np.nan}])).iloc[0]
    assert pd.isna(out["best_use_class"])
    assert out["missing_parameters"] == "tc_mpn_100ml"


def test_undecidable_lists_every_missing_parameter_of_the_blocking_class() -> None:
    # A, B, C fail on coliform; D has DO fine but pH and free ammonia unmeasured.
    sample = {**CLEAN, "tc_mpn_100ml": 9000.0, "ph": None, "free_ammonia_n_mg_l": None}
    out = best_use_class(pd.DataFrame([sample])).iloc[0]
    assert pd.isna(out["best_use_class"])
    assert out["missing_parameters"] == "ph, free_ammonia_n_mg_l"
    assert out["failed_criteria"] == "C: tc_mpn_100ml > 5000"


def test_all_missing_row_is_undecided_on_class_a_parameters() -> None:
    out = best_use_class(pd.DataFrame({"ph": [np.nan]})).iloc[0]
    assert pd.isna(out["best_use_class"])
    assert out["missing_parameters"] == "tc_mpn_100ml, ph, do_mg_l, bod_mg_l"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        # Parameters needed only by lower classes are missing: the better class is still decided.
        ({**CLEAN, "ec_us_cm": None}, "A"),
        ({**CLEAN, "free_ammonia_n_mg_l": None, "sar": None, "boron_mg_l": None}, "A"),
        ({**BASE["B"], "boron_mg_l": None}, "B"),
        ({**BASE["D"], "ec_us_cm": None, "sar": None, "boron_mg_l": None}, "D"),
        # A failed on a measured value; missing coliform does not matter for D once C fails on BOD.
        ({**CLEAN, "tc_mpn_100ml": None, "bod_mg_l": 5.0}, "D"),
        # A missing parameter cannot rescue a class already failed on a measured value.
        ({**BASE["E"], "free_ammonia_n_mg_l": None}, "E"),
        # Every class fails on a measured value although E's SAR and boron are unmeasured.
        ({**BASE["E"], "ec_us_cm": 5000.0, "sar": None, "boron_mg_l": None}, "Below-E"),
    ],
)
def test_best_class_decided_despite_irrelevant_missing(sample: dict, expected: str) -> None:
    out = best_use_class(pd.DataFrame([sample])).iloc[0]
    assert out["best_use_class"] == expected
    assert out["missing_parameters"] == ""


def test_absent_columns_count_as_not_measured() -> None:
    a_only = {k: CLEAN[k] for k in ("tc_mpn_100ml", "ph", "do_mg_l", "bod_mg_l")}
    frame = pd.DataFrame([a_only, {**a_only, "tc_mpn_100ml": 9000.0}], index=[3, 9])
    out = best_use_class(frame)
    assert out.index.equals(frame.index)
    assert out.loc[3, "best_use_class"] == "A"
    assert pd.isna(out.loc[9, "best_use_class"])
    assert out.loc[9, "missing_parameters"] == "free_ammonia_n_mg_l"


def test_best_use_empty_frame_and_non_numeric() -> None:
    out = best_use_class(pd.DataFrame({"ph": pd.Series([], dtype=float)}))
    assert list(out.columns) == ["best_use_class", "missing_parameters", "failed_criteria"]
    assert len(out) == 0
    with pytest.raises(ValueError, match="tc_mpn_100ml"):
        best_use_class(pd.DataFrame([{**CLEAN, "tc_mpn_100ml": "lots"}]))
