"""CPCB NWMP tables in the other real layouts: single values and means, two-row headers, other spellings,
LOCATIONS, Latin-1 bytes. Every column is mapped or reported; nothing is dropped silently."""

from __future__ import annotations

import pandas as pd
import pytest

from purehealth_pipelines import settings
from purehealth_pipelines.sources.common import decode_table_bytes
from purehealth_pipelines.sources.cpcb_nwmp import parse_nwmp_table

IST = "Asia/Kolkata"
REAL_NWMP = settings.shared_data_dir() / "cpcb_nwmp_river_2012_2023.csv"

# A single-value table as CPCB published it for some years, written in Latin-1 (µ is the byte 0xB5).
SINGLE_VALUE_LATIN1 = (
    "STN CODE,LOCATIONS,STATE,Temp,D.O. (mg/l),PH,CONDUCTIVITY (µmhos/cm),B.O.D. (mg/l),"
    "NITRATENAN N+ NITRITENANN (mg/l),FECAL COLIFORM (MPN/100ml),TOTAL COLIFORM (MPN/100ml)Mean,"
    "SAMPLING AGENCY,year\n"
    '1312,"GODAVARI AT JAYAKWADI DAM, AURANGABAD",MAHARASHTRA,29.2,6.4,7.9,316,1.4,0.45,BDL,70,MPCB,2014\n'
    '2153,"KRISHNA AT KARAD",MAHARASHTRA,27.5,7.1,8.1,210,2.2,0.2,12,<2,MPCB,2014\n'
).encode("latin-1")

TWO_ROW_HEADER = (
    "Station Code,Monitoring Location,State,pH,,Bio-Chemical Oxygen Demand (mg/L),,"
    "Dissolved Oxygen (mg/L),,Year\n"
    ",,,Min,Max,Min,Max,Min,Max,\n"
    "1153,Krishna at Rajapur,MAHARASHTRA,7.1,8.2,BDL,3.2,5.9,7.4,2021\n"
    "1190,Panchganga at Ichalkaranji,MAHARASHTRA,7.4,8.6,2.8,12.0,1.2,6.1,2021\n"
)


def test_single_value_latin1_table_lands_every_column_with_its_statistic() -> None:
    with pytest.raises(UnicodeDecodeError):
        SINGLE_VALUE_LATIN1.decode("utf-8")  # what the reader used to assume
    text, encoding = decode_table_bytes(SINGLE_VALUE_LATIN1)
    assert encoding == "cp1252" and "µmhos" in text
    parsed = parse_nwmp_table(text, source_file="nwmp_2014.csv")
    assert (parsed.records_total, parsed.records_landed, parsed.records_rejected) == (2, 2, 0)
    assert parsed.unmapped_columns == {"SAMPLING AGENCY": "not a known parameter"}
    rows = parsed.rows.set_index(["station_id", "parameter", "statistic"])
    expected = {
        ("NWMP-1312", "temp_c", "value"): 29.2,
        ("NWMP-1312", "do_mg_l", "value"): 6.4,
        ("NWMP-1312", "ph", "value"): 7.9,
        ("NWMP-1312", "ec_us_cm", "value"): 316.0,
        ("NWMP-1312", "bod_mg_l", "value"): 1.4,
        ("NWMP-1312", "nitrate_n_mg_l", "value"): 0.45,
        ("NWMP-1312", "tc_mpn_100ml", "mean"): 70.0,
        ("NWMP-2153", "fc_mpn_100ml", "value"): 12.0,
        ("NWMP-2153", "tc_mpn_100ml", "mean"): 2.0,
    }
    for key, value in expected.items():
        assert rows.loc[key, "value"] == value, key
    assert rows.loc[("NWMP-1312", "fc_mpn_100ml", "value"), "censored"] == "<"  # 'BDL'
    assert rows.loc[("NWMP-2153", "tc_mpn_100ml", "mean"), "censored"] == "<"
    assert rows.loc[("NWMP-1312", "ph", "value"), "location"] == "GODAVARI AT JAYAKWADI DAM, AURANGABAD"
    assert set(parsed.rows["ts"]) == {pd.Timestamp("2014-01-01", tz=IST)}
    assert len(parsed.rows) == 2 * 8  # 8 parameter columns per record, none dropped


def test_two_row_header_is_folded_into_min_max_columns() -> None:
    parsed = parse_nwmp_table(TWO_ROW_HEADER, source_file="nwmp_2021.csv")
    assert parsed.header_rows == 2 and parsed.unmapped_columns == {}
    assert parsed.records_total == 2 and parsed.records_landed == 2
    rows = parsed.rows.set_index(["station_id", "parameter", "statistic"])["value"]
    assert rows[("NWMP-1190", "bod_mg_l", "max")] == 12.0  # 'Bio-Chemical Oxygen Demand'
    assert rows[("NWMP-1190", "do_mg_l", "min")] == 1.2
    assert rows[("NWMP-1153", "ph", "max")] == 8.2
    assert len(parsed.rows) == 12


def test_unknown_and_duplicate_columns_are_reported_not_dropped_silently(capsys, tmp_path) -> None:
    text = (
        "Station Code,State,Year,pH Min,pH Max,PH MIN,Arsenic (mg/l) Max,\n"
        "1153,MAHARASHTRA,2022,7,8,7.1,0.01,\n"
    )
    parsed = parse_nwmp_table(text, source_file="t.csv")
    assert parsed.unmapped_columns == {
        "PH MIN": "duplicate of column 'pH Min' (ph min)",
        "Arsenic (mg/l) Max": "not a known parameter",
        "": "column without a header",
    }
    path = tmp_path / "nwmp_2022.csv"
    path.write_bytes(text.encode("utf-8"))
    from purehealth_pipelines.cli import main

    assert main(["ingest", "cpcb-nwmp", str(path), "--dry-run", "-q"]) == 0
    out = capsys.readouterr().out
    assert "unmapped columns (3, not landed):" in out and "'Arsenic (mg/l) Max': not a known parameter" in out


@pytest.mark.skipif(not REAL_NWMP.exists(), reason=f"real NWMP compilation not present at {REAL_NWMP}")
def test_real_compilation_maps_every_column() -> None:
    text, encoding = decode_table_bytes(REAL_NWMP.read_bytes())
    parsed = parse_nwmp_table(text, source_file=REAL_NWMP.name, states=None)
    assert encoding == "utf-8" and parsed.header_rows == 1
    assert parsed.unmapped_columns == {}
    assert set(parsed.rows["statistic"]) == {"min", "max"}
    assert parsed.rows["parameter"].nunique() == 9


def test_single_value_table_lands_in_the_warehouse_with_statistic_value(
    module_warehouse_url, tmp_path
) -> None:
    import psycopg

    from purehealth_pipelines.cli import main

    path = tmp_path / "nwmp_2014_latin1.csv"
    path.write_bytes(SINGLE_VALUE_LATIN1)
    assert main(["ingest", "cpcb-nwmp", str(path), "--url", module_warehouse_url, "-q"]) == 0
    with psycopg.connect(module_warehouse_url) as conn:
        stats = dict(
            conn.execute(
                "SELECT statistic, count(*) FROM raw.cpcb_nwmp WHERE source_file = %s GROUP BY statistic",
                (path.name,),
            ).fetchall()
        )
        priority = conn.execute(
            "SELECT is_observation FROM ref.source_priority WHERE source = 'cpcb_nwmp_value'"
        ).fetchone()
    assert stats == {"value": 14, "mean": 2} and priority == (False,)
