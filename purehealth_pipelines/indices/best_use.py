"""CPCB designated-best-use water quality classes A–E.

CPCB's "Water Quality Criteria" (Table 1, primary water quality criteria for designated best use) gives
each use class a set of limits; a sample's class is the best class (A first) whose every criterion it
meets (docs/water_quality.md §1). The criteria live in one data table,
:data:`CPCB_BEST_USE_CLASSES`, that reads like the CPCB table, so a reviewer can check it line by line
and a revised table is a data change, not a code change.

Unmeasured parameters are the hard part: a criterion whose parameter is missing can be neither met nor
failed. Walking the classes A → E:

* a class with a criterion *failed by a measured value* is skipped (the missing ones cannot rescue it);
* a class whose criteria are *all met* is the answer, even when parameters needed only by lower classes
  are missing (all A criteria met and EC missing → "A");
* a class with no failure but some unmeasured criteria stops the walk: the class cannot be decided, the
  result is missing and ``missing_parameters`` names what would have to be measured. Guessing either way
  would publish a class the data do not support.

If every class A–E fails on measured values the result is "Below-E".
Limits are inclusive (CPCB writes "≤" / "≥" and closed pH ranges): DO exactly 6 meets class A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BELOW_E = "Below-E"
BEST_USE_OUTPUT_COLUMNS: tuple[str, ...] = ("best_use_class", "missing_parameters", "failed_criteria")


@dataclass(frozen=True)
class Criterion:
    """One CPCB limit on one parameter (canonical parameter code); bounds inclusive, ``None`` = no bound."""

    parameter: str
    minimum: float | None = None
    maximum: float | None = None

    def describe_failure(self) -> str:
        """Human-readable statement of how a value fails this limit, e.g. ``tc_mpn_100ml > 50``."""
        if self.minimum is not None and self.maximum is not None:
            return f"{self.parameter} outside {self.minimum:g}–{self.maximum:g}"
        if self.minimum is not None:
            return f"{self.parameter} < {self.minimum:g}"
        return f"{self.parameter} > {self.maximum:g}"

    def within(self, values: np.ndarray) -> np.ndarray:
        """True where a measured value meets the limit (NaN compares False, i.e. not met)."""
        ok = ~np.isnan(values)
        if self.minimum is not None:
            ok &= values >= self.minimum
        if self.maximum is not None:
            ok &= values <= self.maximum
        return ok


@dataclass(frozen=True)
class BestUseClass:
    """A CPCB designated-best-use class: its letter, the use it protects and its criteria."""

    code: str
    best_use: str
    criteria: tuple[Criterion, ...]


# CPCB Water Quality Criteria, Table 1 (primary water quality criteria for designated best use).
# Units: coliform MPN/100 ml; DO, BOD, free ammonia (as N), boron mg/l; EC µS/cm (= µmhos/cm) at 25 °C.
CPCB_BEST_USE_CLASSES: tuple[BestUseClass, ...] = (
    BestUseClass(
        "A",
        "Drinking water source without conventional treatment but after disinfection",
        (
            Criterion("tc_mpn_100ml", maximum=50),
            Criterion("ph", minimum=6.5, maximum=8.5),
            Criterion("do_mg_l", minimum=6),
            Criterion("bod_mg_l", maximum=2),  # BOD 5 days, 20 °C
        ),
    ),
    BestUseClass(
        "B",
        "Outdoor bathing (organised)",
        (
            Criterion("tc_mpn_100ml", maximum=500),
            Criterion("ph", minimum=6.5, maximum=8.5),
            Criterion("do_mg_l", minimum=5),
            Criterion("bod_mg_l", maximum=3),
        ),
    ),
    BestUseClass(
        "C",
        "Drinking water source after conventional treatment and disinfection",
        (
            Criterion("tc_mpn_100ml", maximum=5000),
            Criterion("ph", minimum=6.0, maximum=9.0),
            Criterion("do_mg_l", minimum=4),
            Criterion("bod_mg_l", maximum=3),
        ),
    ),
    BestUseClass(
        "D",
        "Propagation of wildlife and fisheries",
        (
            Criterion("ph", minimum=6.5, maximum=8.5),
            Criterion("do_mg_l", minimum=4),
            Criterion("free_ammonia_n_mg_l", maximum=1.2),
        ),
    ),
    BestUseClass(
        "E",
        "Irrigation, industrial cooling, controlled waste disposal",
        (
            Criterion("ph", minimum=6.0, maximum=8.5),
            Criterion("ec_us_cm", maximum=2250),
            Criterion("sar", maximum=26),
            Criterion("boron_mg_l", maximum=2),
        ),
    ),
)


def cpcb_criterion(class_code: str, parameter: str) -> Criterion:
    """The CPCB limit of one class on one parameter: the one source of every CPCB number the platform uses
    (alert rules and forecast alerts cite a class rather than restating its limit)."""
    for cls in CPCB_BEST_USE_CLASSES:
        if cls.code == class_code:
            for criterion in cls.criteria:
                if criterion.parameter == parameter:
                    return criterion
            known = [c.parameter for c in cls.criteria]
            raise KeyError(f"CPCB class {class_code} has no criterion on {parameter!r} (it has {known})")
    raise KeyError(f"no CPCB best-use class {class_code!r} (classes: A–E)")


BEST_USE_PARAMETERS: tuple[str, ...] = tuple(
    dict.fromkeys(c.parameter for cls in CPCB_BEST_USE_CLASSES for c in cls.criteria)
)


def _parameter_values(frame: pd.DataFrame, parameter: str) -> np.ndarray:
    """Float values of one parameter; an absent column means "not measured" for every row."""
    if parameter not in frame.columns:
        return np.full(len(frame), np.nan)
    try:
        series = pd.to_numeric(frame[parameter])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {parameter!r} must be numeric: {exc}") from exc
    return series.to_numpy(dtype=float, na_value=np.nan)


def _append(text: np.ndarray, mask: np.ndarray, item: str, separator: str) -> np.ndarray:
    """Append ``item`` to the rows of an object array of strings where ``mask`` is set."""
    joined = np.where(text == "", item, text + separator + item)
    return np.where(mask, joined, text)


def best_use_class(frame: pd.DataFrame) -> pd.DataFrame:
    """Classify each row of ``frame`` into its CPCB designated-best-use class.

    Reads the canonical parameter columns ``tc_mpn_100ml, ph, do_mg_l, bod_mg_l, free_ammonia_n_mg_l,
    ec_us_cm, sar, boron_mg_l``; absent columns and NaN count as not measured (see module docstring for
    the walk). Returns, on the same index:

    * ``best_use_class``: "A"–"E", "Below-E", or missing (``pd.NA``) when it cannot be decided;
    * ``missing_parameters``: when undecided, the comma-separated parameters of the class where the walk
      stopped that were not measured; empty string otherwise;
    * ``failed_criteria``: why the sample is not one class better — the failed criteria of the class
      just above the result (or of E for "Below-E"), prefixed with that class, e.g.
      ``"B: tc_mpn_100ml > 500; bod_mg_l > 3"``; empty string for "A" and for an undecided first class.
    """
    n = len(frame)
    values = {parameter: _parameter_values(frame, parameter) for parameter in BEST_USE_PARAMETERS}

    result = np.full(n, None, dtype=object)
    missing_parameters = np.full(n, "", dtype=object)
    failed_criteria = np.full(n, "", dtype=object)
    undecided = np.ones(n, dtype=bool)  # rows whose walk has not stopped yet
    failures_above = np.full(n, "", dtype=object)  # failures of the class just walked past

    for cls in CPCB_BEST_USE_CLASSES:
        all_met = np.ones(n, dtype=bool)
        any_failed = np.zeros(n, dtype=bool)
        failures = np.full(n, "", dtype=object)
        unmeasured = np.full(n, "", dtype=object)
        for criterion in cls.criteria:
            v = values[criterion.parameter]
            measured = ~np.isnan(v)
            met = criterion.within(v)
            failed = measured & ~met
            all_met &= met
            any_failed |= failed
            failures = _append(failures, failed, criterion.describe_failure(), "; ")
            unmeasured = _append(unmeasured, ~measured, criterion.parameter, ", ")

        assigned = undecided & all_met
        blocked = undecided & ~any_failed & ~all_met  # nothing failed, something unmeasured
        stopped = assigned | blocked
        result[assigned] = cls.code
        missing_parameters[blocked] = unmeasured[blocked]
        failed_criteria[stopped] = failures_above[stopped]
        undecided &= ~stopped
        failures_above = np.where(any_failed, f"{cls.code}: " + failures, "")

    result[undecided] = BELOW_E  # every class failed on a measured value
    failed_criteria[undecided] = failures_above[undecided]

    return pd.DataFrame(
        {
            "best_use_class": pd.array(result, dtype="string"),
            "missing_parameters": pd.array(missing_parameters, dtype="string"),
            "failed_criteria": pd.array(failed_criteria, dtype="string"),
        },
        index=frame.index,
    )


def class_criteria(code: str) -> tuple[Criterion, ...]:
    """The criteria of one CPCB class ("A"–"E"); a KeyError names the unknown code."""
    for cls in CPCB_BEST_USE_CLASSES:
        if cls.code == code:
            return cls.criteria
    raise KeyError(f"no CPCB best-use class {code!r}; expected one of A–E")


def criteria_exceedances(frame: pd.DataFrame, code: str) -> pd.DataFrame:
    """Which criteria of class ``code`` each row exceeds: the designated-use check MPCB reports per station.

    One nullable-boolean column per criterion, named by how it is failed (``"bod_mg_l > 3"``,
    ``"do_mg_l < 4"``, ``"ph outside 6–9"``): True = measured and outside the limit, False = measured and
    within it, missing = not measured (it can be neither, as in :func:`best_use_class`).
    """
    columns = {}
    for criterion in class_criteria(code):
        values = _parameter_values(frame, criterion.parameter)
        measured = ~np.isnan(values)
        exceeded = measured & ~criterion.within(values)
        columns[criterion.describe_failure()] = pd.array(np.where(measured, exceeded, None), dtype="boolean")
    return pd.DataFrame(columns, index=frame.index)
