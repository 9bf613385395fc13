"""Alert rules and the state machine, pure: typed criteria decide which value is the worst."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from purehealth_pipelines.marts.alerts import Criterion, evaluate_rules, load_rules, reconcile

START = pd.Timestamp("2026-12-01 00:00", tz="UTC")


def _readings(parameter: str, values: list[float], station: str = "IOT-A") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": station,
            "parameter": parameter,
            "ts": [START + pd.Timedelta(minutes=15 * i) for i in range(len(values))],
            "value": values,
            "qc_flag": 1,
        }
    )


def _worst(parameter: str, values: list[float], rule: str) -> float:
    rules = load_rules()
    evaluations = evaluate_rules(_readings(parameter, values), rules)
    alerts = reconcile(evaluations[evaluations["rule"] == rule], [], rules.cooldown)
    assert len(alerts) == 1
    return alerts[0].worst_value


def test_worst_value_of_a_low_side_ph_breach_is_the_lowest() -> None:
    assert _worst("ph", [7.2, 6.0, 5.0, 6.2], "ph_outside_6_5_8_5") == 5.0


def test_worst_value_of_a_high_side_ph_breach_is_the_highest() -> None:
    assert _worst("ph", [7.2, 8.9, 9.6, 8.7], "ph_outside_6_5_8_5") == 9.6


def test_worst_value_of_a_do_breach_is_the_lowest_and_of_bod_the_highest() -> None:
    assert _worst("do_mg_l", [6.0, 3.5, 1.2, 2.0], "do_below_4") == 1.2
    assert _worst("bod_mg_l", [2.0, 4.0, 9.0, 5.0], "bod_above_class_c") == 9.0


def test_a_jump_reports_the_step_and_keeps_the_largest() -> None:
    # DO steps: +0.1, -3.0 (breach), +2.5 (breach, smaller in size)
    assert _worst("do_mg_l", [7.0, 7.1, 4.1, 6.6], "sudden_jump") == -3.0


def test_criterion_excess_ranks_both_directions() -> None:
    band = Criterion(low=6.5, high=8.5)
    assert list(band.breached(np.array([6.4, 7.0, 8.6, np.nan]))) == [True, False, True, False]
    assert band.excess(5.0) > band.excess(6.0) > 0 > band.excess(7.0)
    assert band.excess(9.5) > band.excess(8.6)


def test_cpcb_limits_come_from_the_best_use_table_and_bad_rules_fail_at_load(tmp_path) -> None:
    """The YAML cites a CPCB class; the number comes from indices.best_use. Typos are load errors."""
    from purehealth_pipelines.indices.best_use import cpcb_criterion

    rules = {rule["rule"]: rule for rule in load_rules().threshold_rules}
    assert rules["do_below_4"]["below"] == cpcb_criterion("C", "do_mg_l").minimum
    assert rules["ph_outside_6_5_8_5"]["outside"] == [6.5, 8.5]
    assert rules["tc_above_class_c"]["above"] == cpcb_criterion("C", "tc_mpn_100ml").maximum

    good = (
        "version: t\nthreshold_rules:\n"
        "  - {rule: r, parameter: do_mg_l, cpcb_class: C, severity: critical, text: t}\n"
    )
    assert load_rules(_write(tmp_path, good)).threshold_rules[0]["below"] == 4
    for broken, message in [
        (good.replace("do_mg_l", "do_mgl"), "unknown parameter"),
        (good.replace("critical", "urgent"), "severity must be one of"),
        (good.replace("cpcb_class: C", "cpcb_class: F"), "no CPCB best-use class"),
        (good.replace("cpcb_class: C", "cpcb_class: E"), "has no criterion on 'do_mg_l'"),
        (good.replace("cpcb_class: C", "cpcb_class: C, below: 5"), "exactly one of"),
        (good.replace("text: t", "txt: t"), "unknown ['txt']"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            load_rules(_write(tmp_path, broken))


def _write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path
