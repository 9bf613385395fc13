"""CPCB / MPCB water quality index (NSF-based, 4 parameters).

MPCB's annual "Water Quality Status of Maharashtra" reports (2023-24 edition, named NSFWQI there) score
surface water with the CPCB adaptation of the National Sanitation Foundation index: four sub-indices
(DO % saturation, fecal coliform, pH, BOD), each a piecewise curve, combined with fixed weights. The
piecewise tables, weights, class bands and golden case are in ``docs/water_quality.md`` §2.

Decisions that the published tables leave open, made here once so every caller gets the same answer:

* **Segment boundaries.** The tables write ranges as ``a–b`` and the open tails with a strict ``>``
  ("> 140", "> 10⁵", "> 30", "> 12"); a strict tail only partitions the axis if the range before it
  contains its upper end, so every range is read as *upper-inclusive*: ``(a, b]``. The first range of
  each curve is closed at its lower end too (DO 0, FC 1, pH 2, BOD 0), because the rows before it are
  strict ("< 1", "< 2"). This is also the reading behind the reference's edge facts: DO exactly 100 %sat
  scores 103.45 (the 40–100 line) and pH exactly 7.3 scores 101.9 (the 5–7.3 line). So DO 40 belongs to
  the 0–40 segment, FC 1000 to 1–10³, pH 5 to 2–5, BOD 10 to 0–10.
* **Jumps.** The published lines do not meet at most breakpoints; the biggest is pH at 5
  (2–5 line gives 52.85, 5–7.3 line gives 24.83). The curves are implemented exactly as published,
  jumps included, rather than smoothed, so results match MPCB's.
* **Capping.** Sub-indices are *not* capped: the published lines exceed 100 (DO 103.45 at 100 %sat,
  pH 101.88 at 7.3) and the ``si_*`` columns report what the formula gives. The final WQI *is* clipped
  to [0, 100] because the class bands are defined on 0–100 (the best possible sample scores 100.85
  unclipped). The lower clip never binds with these curves; it is there for safety.
* **Invalid inputs.** Negative DO, BOD or fecal coliform are physically impossible, so they give NaN,
  never a made-up sub-index. NaN in gives NaN out.
* **Published rounding.** MPCB's worked example (station 1153) rounds intermediates by hand
  (%sat 84.61, log 6 = 0.778, weighted terms truncated) and prints sub-indices DO 85.44 / FC 76.51 and
  WQI 83.16. Exact arithmetic on the same inputs gives 85.45 / 76.50 and WQI 83.17; this module does
  exact arithmetic and does not imitate hand rounding.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

ArrayLike: TypeAlias = float | np.ndarray | pd.Series | list[float]

# MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI: CPCB-modified NSF weights (sum to 1.0).
WQI_WEIGHTS: dict[str, float] = {"do": 0.31, "fc": 0.28, "ph": 0.22, "bod": 0.19}

# MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI class bands:
# (lower bound, inclusive; label; CPCB class letter). The lower bound belongs to the band, so WQI 63
# is "Good to Excellent", 50 is "Medium to Good", 38 is "Bad".
WQI_BANDS: tuple[tuple[float, str, str], ...] = (
    (63.0, "Good to Excellent", "A"),  # non-polluted
    (50.0, "Medium to Good", "B"),  # non-polluted
    (38.0, "Bad", "C"),  # polluted
    (-np.inf, "Bad to Very Bad", "D/E"),  # heavily polluted
)

# MPCB 2023-24 worked example divides by 6.5 mg/l ("standard constant") to get % saturation.
FIXED_DO_SATURATION_MG_L = 6.5

DoSaturationMethod: TypeAlias = Literal["fixed", "temperature"]
_DO_SATURATION_METHODS: tuple[str, ...] = ("fixed", "temperature")

WQI_INPUT_COLUMNS: tuple[str, ...] = ("do_mg_l", "bod_mg_l", "ph", "fc_mpn_100ml")
WQI_OUTPUT_COLUMNS: tuple[str, ...] = (
    "do_sat_pct",
    "si_do",
    "si_fc",
    "si_ph",
    "si_bod",
    "wqi",
    "wqi_label",
    "wqi_class",
)


def _as_float_array(values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a float ndarray, turning pandas missing markers (``pd.NA``, ``None``) into NaN.

    Nullable pandas dtypes (``Float64``) carry ``pd.NA``, which numpy cannot compare; converting here
    keeps every curve below a plain float computation where NaN propagates on its own.
    """
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype=float, na_value=np.nan)
    if values is None or values is pd.NA:
        return np.asarray(np.nan, dtype=float)
    return np.asarray(values, dtype=float)


def _like_input(result: np.ndarray, template: ArrayLike) -> float | np.ndarray | pd.Series:
    """Give the result the shape of the input: Series keep their index, scalars come back as floats."""
    if isinstance(template, pd.Series):
        return pd.Series(result, index=template.index, name=template.name, dtype=float)
    if np.ndim(result) == 0:
        return float(result)
    return result


def saturation_concentration_mg_l(temp_c: ArrayLike) -> float | np.ndarray | pd.Series:
    """Oxygen solubility Cs(T) in fresh water, mg/l, for the ``temperature`` saturation method.

    Cs = 14.59 − 0.3955·T + 0.0072·T² − 0.0000619·T³ (T in °C), the cubic given with the NSF/CPCB
    index (docs/water_quality.md §2). Exposed so analysts can see the denominator used.
    """
    t = _as_float_array(temp_c)
    cs = 14.59 - 0.3955 * t + 0.0072 * t**2 - 0.0000619 * t**3
    return _like_input(cs, temp_c)


def do_saturation_pct(
    do_mg_l: ArrayLike,
    temp_c: ArrayLike | None = None,
    method: DoSaturationMethod = "fixed",
) -> float | np.ndarray | pd.Series:
    """Dissolved oxygen as % saturation, the DO input of the WQI.

    Two conventions are in use and give different WQIs for the same sample, so the choice is explicit:

    * ``"fixed"``: DO / 6.5 × 100. This is what MPCB's published worked example uses, so it reproduces
      the Maharashtra reports (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI).
    * ``"temperature"``: 100 · DO / Cs(T) with the solubility cubic of
      :func:`saturation_concentration_mg_l`; physically sounder in warm water (Cs(25 °C) ≈ 8.24 mg/l,
      so the same DO is a lower saturation than the fixed 6.5 implies). Needs ``temp_c``.

    Vectorised: scalars, arrays and Series (index preserved). NaN in DO or temperature gives NaN; a
    non-positive Cs (far outside the cubic's fitted range) gives NaN rather than a nonsense ratio.
    """
    if method not in _DO_SATURATION_METHODS:
        raise ValueError(f"unknown DO saturation method {method!r}; expected one of {_DO_SATURATION_METHODS}")
    do = _as_float_array(do_mg_l)
    if method == "fixed":
        return _like_input(do / FIXED_DO_SATURATION_MG_L * 100.0, do_mg_l)
    if temp_c is None:
        raise ValueError("do_saturation_pct(method='temperature') needs temp_c (water temperature, °C)")
    cs = _as_float_array(saturation_concentration_mg_l(_as_float_array(temp_c)))
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(cs > 0, 100.0 * do / cs, np.nan)
    return _like_input(pct, do_mg_l)


def do_subindex(do_sat_pct: ArrayLike) -> float | np.ndarray | pd.Series:
    """DO sub-index from % saturation (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI).

    Segments are upper-inclusive (see module docstring): 40 → 0–40 line, 100 → 40–100 line (103.45),
    140 → 100–140 line (76.54); above 140 the score is a flat 50 (supersaturation is penalised).
    Not capped at 100. Negative saturation is impossible → NaN.
    """
    x = _as_float_array(do_sat_pct)
    out = np.select(
        [
            x < 0,  # impossible
            x <= 40,  # 0–40
            x <= 100,  # 40–100
            x <= 140,  # 100–140
            x > 140,  # > 140
        ],
        [
            np.nan,
            0.18 + 0.66 * x,
            -13.55 + 1.17 * x,
            163.34 - 0.62 * x,
            50.0,
        ],
        default=np.nan,  # NaN input matches no condition
    )
    return _like_input(out, do_sat_pct)


def fc_subindex(fc_mpn_100ml: ArrayLike) -> float | np.ndarray | pd.Series:
    """Fecal coliform sub-index, MPN/100 ml (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI).

    < 1 → 100; 1–10³ (1 and 1000 included) → 97.2 − 26.6·log10 FC; 10³–10⁵ (10⁵ included) →
    42.33 − 7.75·log10 FC; > 10⁵ → 2. Censored lab values arrive as their bound (">1600" as 1600).
    Negative counts are impossible → NaN.
    """
    x = _as_float_array(fc_mpn_100ml)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_fc = np.log10(x)
    out = np.select(
        [
            x < 0,  # impossible
            x < 1,  # < 1
            x <= 1e3,  # 1–10³
            x <= 1e5,  # 10³–10⁵
            x > 1e5,  # > 10⁵
        ],
        [
            np.nan,
            100.0,
            97.2 - 26.6 * log_fc,
            42.33 - 7.75 * log_fc,
            2.0,
        ],
        default=np.nan,
    )
    return _like_input(out, fc_mpn_100ml)


def ph_subindex(ph: ArrayLike) -> float | np.ndarray | pd.Series:
    """pH sub-index (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI).

    < 2 or > 12 → 0; 2–5 → 16.1 + 7.35·pH; 5–7.3 → −142.67 + 33.5·pH; 7.3–10 → 316.96 − 29.85·pH;
    10–12 → 96.17 − 8.0·pH. Upper-inclusive: pH 5 scores 52.85 on the 2–5 line while pH just above 5
    scores 24.83 — the published curve really jumps there; pH 7.3 scores 101.88 (not capped).
    """
    x = _as_float_array(ph)
    out = np.select(
        [
            x < 2,  # < 2
            x <= 5,  # 2–5
            x <= 7.3,  # 5–7.3
            x <= 10,  # 7.3–10
            x <= 12,  # 10–12
            x > 12,  # > 12
        ],
        [
            0.0,
            16.1 + 7.35 * x,
            -142.67 + 33.5 * x,
            316.96 - 29.85 * x,
            96.17 - 8.0 * x,
            0.0,
        ],
        default=np.nan,
    )
    return _like_input(out, ph)


def bod_subindex(bod_mg_l: ArrayLike) -> float | np.ndarray | pd.Series:
    """BOD sub-index, mg/l (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI).

    0–10 (10 included) → 96.67 − 7·BOD; 10–30 (30 included) → 38.9 − 1.23·BOD; > 30 → 2.
    Negative BOD is impossible → NaN.
    """
    x = _as_float_array(bod_mg_l)
    out = np.select(
        [
            x < 0,  # impossible
            x <= 10,  # 0–10
            x <= 30,  # 10–30
            x > 30,  # > 30
        ],
        [
            np.nan,
            96.67 - 7.0 * x,
            38.9 - 1.23 * x,
            2.0,
        ],
        default=np.nan,
    )
    return _like_input(out, bod_mg_l)


def classify_wqi(wqi: ArrayLike) -> pd.DataFrame:
    """Band a WQI into MPCB's label and CPCB class letter (columns ``wqi_label``, ``wqi_class``).

    Each band's lower bound is inclusive (WQI_BANDS): 63 is "Good to Excellent" (A), 62.99 is
    "Medium to Good" (B); 50 → B, 38 → "Bad" (C), below 38 → "Bad to Very Bad" (D/E). Banding uses the
    unrounded WQI. Missing WQI gives missing label and class (``pd.NA``), never a default band.
    Index follows the input when it is a Series.
    """
    values = _as_float_array(wqi)
    values = np.atleast_1d(values)
    index = wqi.index if isinstance(wqi, pd.Series) else pd.RangeIndex(len(values))
    conditions = [values >= lower for lower, _, _ in WQI_BANDS]  # NaN compares False everywhere
    labels = np.select(conditions, [label for _, label, _ in WQI_BANDS], default=None)
    letters = np.select(conditions, [letter for _, _, letter in WQI_BANDS], default=None)
    return pd.DataFrame(
        {
            "wqi_label": pd.array(labels.astype(object), dtype="string"),
            "wqi_class": pd.array(letters.astype(object), dtype="string"),
        },
        index=index,
    )


def _numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Column as numbers; text that is not a number is an upstream bug, so say which column it is in."""
    try:
        return pd.to_numeric(frame[column])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"column {column!r} must be numeric (censored values as their bound): {exc}"
        ) from exc


def cpcb_wqi(
    frame: pd.DataFrame,
    do_saturation: DoSaturationMethod = "fixed",
) -> pd.DataFrame:
    """Compute the CPCB/MPCB 4-parameter WQI for every row of ``frame``.

    Input columns: ``do_mg_l``, ``bod_mg_l``, ``ph``, ``fc_mpn_100ml`` and, for
    ``do_saturation="temperature"``, ``temp_c``. A missing column is a caller bug, so it raises a
    ValueError naming it instead of silently producing an all-NaN index.

    Returns a DataFrame on the same index with ``do_sat_pct``, the four unclipped sub-indices
    ``si_do, si_fc, si_ph, si_bod``, ``wqi`` = 0.31·DO + 0.28·FC + 0.22·pH + 0.19·BOD clipped to
    [0, 100] (MPCB Water Quality Status of Maharashtra 2023-24, NSFWQI), ``wqi_label`` and ``wqi_class``.
    A row with any input missing gets NaN ``wqi`` and missing label/class: re-weighting the remaining
    parameters would publish a number MPCB never defined. Sub-indices whose own input is present are
    still reported, so analysts can see what was available.
    """
    if do_saturation not in _DO_SATURATION_METHODS:
        raise ValueError(f"unknown do_saturation {do_saturation!r}; expected one of {_DO_SATURATION_METHODS}")
    required = list(WQI_INPUT_COLUMNS) + (["temp_c"] if do_saturation == "temperature" else [])
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"cpcb_wqi(do_saturation={do_saturation!r}) is missing required column(s): {', '.join(missing)}"
        )

    temp = _numeric_column(frame, "temp_c") if do_saturation == "temperature" else None
    do_sat = _as_float_array(do_saturation_pct(_numeric_column(frame, "do_mg_l"), temp, method=do_saturation))
    si_do = _as_float_array(do_subindex(do_sat))
    si_fc = _as_float_array(fc_subindex(_numeric_column(frame, "fc_mpn_100ml")))
    si_ph = _as_float_array(ph_subindex(_numeric_column(frame, "ph")))
    si_bod = _as_float_array(bod_subindex(_numeric_column(frame, "bod_mg_l")))

    raw = (
        WQI_WEIGHTS["do"] * si_do
        + WQI_WEIGHTS["fc"] * si_fc
        + WQI_WEIGHTS["ph"] * si_ph
        + WQI_WEIGHTS["bod"] * si_bod
    )  # NaN in any term keeps the row NaN
    wqi = np.clip(raw, 0.0, 100.0)  # bands are defined on 0–100; np.clip keeps NaN

    result = pd.DataFrame(
        {
            "do_sat_pct": do_sat,
            "si_do": si_do,
            "si_fc": si_fc,
            "si_ph": si_ph,
            "si_bod": si_bod,
            "wqi": wqi,
        },
        index=frame.index,
    )
    bands = classify_wqi(wqi)
    result["wqi_label"] = bands["wqi_label"].array  # positional: keeps the string dtype, no realignment
    result["wqi_class"] = bands["wqi_class"].array
    return result[list(WQI_OUTPUT_COLUMNS)]
