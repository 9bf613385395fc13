"""India-WRIS: every datatype of a station comes back, each with its datatypeCode; numbers come as strings.
The parser keeps the code, prefers observed over computed, maps level types deliberately, calls "NaN" not a
number, and refuses readings stamped after the fetch; the demo publisher speaks the same way."""

from __future__ import annotations

import pandas as pd

from purehealth_pipelines.demo.publishers import cwc_stations, wris_records
from purehealth_pipelines.sources import cwc

IST = "Asia/Kolkata"
START, END = pd.Timestamp("2024-07-01", tz=IST), pd.Timestamp("2024-07-02", tz=IST)
NOW = pd.Timestamp("2024-07-05 12:00", tz=IST)
LEVEL, FLOW = "River Water Level", "River Water Discharge"


def _rec(value: object, code: str | None, time: str = "2024-07-01 08:00:00.0", unit: str = "m") -> dict:
    record = {
        "stationCode": "032-X",
        "stationName": "Karad",
        "latitude": "17.3",
        "longitude": "74.07",
        "dataValue": value,
        "dataTime": time,
        "unit": unit,
    }
    if code is not None:
        record["datatypeCode"] = code
    return record


def test_observed_discharge_wins_over_computed_in_either_order() -> None:
    for order in ((("QOB", "812.5"), ("QCO", "790.0")), (("QCO", "790.0"), ("QOB", "812.5"))):
        records = [(FLOW, _rec(v, c, unit="m3/s")) for c, v in order]
        parsed = cwc.parse_wris(records, START, END, now=NOW)
        assert parsed.rows[["value", "datatype_code"]].values.tolist() == [[812.5, "QOB"]]
        assert parsed.facts["superseded"] == {"QCO under QOB": 1}
        assert parsed.dead_letters.empty  # a superseded computed value is counted, not an error


def test_computed_discharge_lands_when_nothing_was_observed() -> None:
    records = [
        (FLOW, _rec("790.0", "QCO", unit="m3/s")),
        (FLOW, _rec("801", "QOB", "2024-07-01 20:00:00.0", unit="m3/s")),
    ]
    rows = cwc.parse_wris(records, START, END, now=NOW).rows
    assert rows.set_index("datatype_code")["value"].to_dict() == {"QCO": 790.0, "QOB": 801.0}


def test_level_types_are_mapped_deliberately() -> None:
    records = [
        (LEVEL, _rec("562.40", "HHT")),
        (LEVEL, _rec("562.31", "HHS")),
        (LEVEL, _rec("563.00", "HZS", "2024-07-01 09:00:00.0")),
        (LEVEL, _rec("570.00", "HZF", "2024-07-01 10:00:00.0")),  # a forecast: not an observation
        (LEVEL, _rec("562.00", "XYZ", "2024-07-01 11:00:00.0")),  # unknown: never guessed
        (LEVEL, _rec("800", "QOB", "2024-07-01 12:00:00.0")),  # a discharge code in the level dataset
    ]
    parsed = cwc.parse_wris(records, START, END, now=NOW)
    landed = parsed.rows.set_index(parsed.rows["ts"].dt.tz_convert(IST).dt.hour)
    assert landed[["value", "datatype_code"]].to_dict("index") == {
        8: {"value": 562.31, "datatype_code": "HHS"},
        9: {"value": 563.0, "datatype_code": "HZS"},
    }
    assert parsed.facts["superseded"] == {"HHT under HHS": 1}
    assert parsed.facts["not_observations"] == {"HZF": 1}
    assert parsed.facts["datatype_codes"] == {"HHT": 1, "HHS": 1, "HZS": 1, "HZF": 1, "XYZ": 1, "QOB": 1}
    reasons = sorted(parsed.dead_letters["reason"])
    assert reasons[0].startswith("datatypeCode 'QOB'") and reasons[1] == "unknown datatypeCode 'XYZ'"


def test_nan_strings_are_not_a_number_and_string_numbers_parse() -> None:
    records = [
        (LEVEL, _rec("NaN", "HHS")),
        (LEVEL, _rec("nan", "HHS", "2024-07-01 09:00:00.0")),
        (LEVEL, _rec(" 562.31 ", "HHS", "2024-07-01 10:00:00.0")),
        (LEVEL, _rec("-9999.0", "HHS", "2024-07-01 11:00:00.0")),
    ]
    parsed = cwc.parse_wris(records, START, END, now=NOW)
    assert parsed.rows["value"].tolist() == [562.31]
    reasons = list(parsed.dead_letters["reason"])
    assert reasons[:2] == ["not a number: dataValue 'NaN'", "not a number: dataValue 'nan'"]
    assert reasons[2].startswith("outside physical range")  # -9999 is a number, out of range


def test_readings_stamped_after_the_fetch_are_dead_lettered() -> None:
    records = [
        (LEVEL, _rec("562.31", "HHS", "2024-07-01 11:00:00.0")),
        (LEVEL, _rec("562.35", "HHS", "2024-07-01 12:10:00.0")),  # within the 15 min clock tolerance
        (LEVEL, _rec("562.40", "HHS", "2024-07-01 23:00:00.0")),  # 11 h ahead of 'now'
    ]
    parsed = cwc.parse_wris(records, START, END, now=pd.Timestamp("2024-07-01 12:00", tz=IST))
    assert parsed.rows["value"].tolist() == [562.31, 562.35]
    assert parsed.dead_letters["reason"].str.startswith("stamped in the future").tolist() == [True]


def test_demo_wris_speaks_datatypes_strings_and_publishes_nothing_after_now() -> None:
    district = cwc_stations()["district"].iloc[0]
    now = pd.Timestamp("2024-07-02 09:30", tz=IST)
    levels = wris_records(LEVEL, district, "2024-07-01", "2024-07-02", seed=3, now=now)
    flows = wris_records(FLOW, district, "2024-07-01", "2024-07-02", seed=3, now=now)
    stamps = [pd.Timestamp(r["dataTime"][:-2], tz=IST) for r in levels + flows]
    assert max(stamps) <= now and max(stamps) == pd.Timestamp("2024-07-02 09:00", tz=IST)
    assert {r["datatypeCode"] for r in levels} == {"HHS", "HHT", "HZF"}
    assert {r["datatypeCode"] for r in flows} == {"QOB", "QCO"}
    assert all(isinstance(r["dataValue"], str) for r in levels + flows)
    parsed = cwc.parse_wris(
        [(LEVEL, r) for r in levels] + [(FLOW, r) for r in flows],
        pd.Timestamp("2024-07-01", tz=IST),
        pd.Timestamp("2024-07-03", tz=IST),
        now=now,
    )
    rows = parsed.rows
    assert not rows.duplicated(["station_id", "parameter", "ts"]).any()
    eight = rows[(rows["parameter"] == "discharge_m3_s") & (rows["ts"].dt.tz_convert(IST).dt.hour == 8)]
    assert set(eight["datatype_code"]) == {"QOB"}  # observed beats the computed value of the same hour
    assert set(rows.loc[rows["parameter"] == "water_level_m", "datatype_code"]) == {"HHS"}
    assert parsed.facts["superseded"]["QCO under QOB"] == len(eight)
