"""The platform's vocabulary: the facts every domain shares, named once.

- The time zone: partitions, financial years, quiet hours, diurnal features and rollup buckets are all in
  India Standard Time. Storage is UTC (timestamptz); IST is how days, months and years are cut.
- QARTOD flags (the values of every `qc_flag` column): the IOOS QARTOD primary flags.
- Parameters and their canonical units: readings are stored in these units whatever the source used.
- Sources, their class and priority: which reading wins when several sources measure the same thing.

The warehouse holds the same facts as reference tables (`ref.parameters`, `ref.source_priority`, migrations
0001, 0300, 0510, 1700) so analysts can join them; `purehealth_pipelines_tests/test_vocabulary.py` checks,
after migrating, that the tables and this module agree, so neither can drift alone.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

TIMEZONE: Final = "Asia/Kolkata"
IST: Final = ZoneInfo(TIMEZONE)


class QartodFlag(IntEnum):
    """IOOS QARTOD primary flags, as stored in every `qc_flag` column (smallint)."""

    PASS = 1
    NOT_EVALUATED = 2
    SUSPECT = 3
    FAIL = 4
    MISSING = 9

    @property
    def label(self) -> str:
        """The word a report or a dashboard shows for the flag."""
        return _FLAG_LABELS[self]


_FLAG_LABELS: Final = {
    QartodFlag.PASS: "good",
    QartodFlag.NOT_EVALUATED: "not evaluated",
    QartodFlag.SUSPECT: "suspect",
    QartodFlag.FAIL: "bad",
    QartodFlag.MISSING: "missing",
}

# Parameter code -> canonical unit. Codes are snake_case with the unit in the name.
CANONICAL_UNITS: Final[dict[str, str]] = {
    "temp_c": "°C",
    "do_mg_l": "mg/L",
    "do_sat_pct": "%",
    "ph": "pH units",
    "ec_us_cm": "µS/cm",
    "bod_mg_l": "mg/L",
    "cod_mg_l": "mg/L",
    "nitrate_n_mg_l": "mg/L",
    "fc_mpn_100ml": "MPN/100 mL",
    "tc_mpn_100ml": "MPN/100 mL",
    "fs_mpn_100ml": "MPN/100 mL",
    "turbidity_ntu": "NTU",
    "tds_mg_l": "mg/L",
    "water_level_m": "m",
    "discharge_m3_s": "m³/s",
    "rainfall_mm": "mm",
    "tmax_c": "°C",
    "tmin_c": "°C",
    "ndwi": "1",
    "mndwi": "1",
    "ndti": "1",
    "ndci": "1",
    "chl_a_mg_m3": "mg/m³",
    "free_ammonia_n_mg_l": "mg/L",
    "boron_mg_l": "mg/L",
    "sar": "1",
}
# Computed by the platform, never read from a source (so not accepted into core.readings).
DERIVED_PARAMETERS: Final[dict[str, str]] = {"wqi": "0-100"}


class Source(NamedTuple):
    """A source of readings: its class, its priority (1 wins) and whether its rows are samples at an instant
    (annual minima/maxima and unlabelled annual values are statistics: kept, never preferred)."""

    source_class: str
    priority: int
    is_observation: bool


# IoT sensor > government > satellite > model forecast.
SOURCES: Final[dict[str, Source]] = {
    "iot": Source("iot", 1, True),
    "cwc": Source("government", 2, True),
    "mpcb": Source("government", 2, True),
    "imd": Source("government", 2, True),
    "cpcb_nwmp_mean": Source("government", 2, True),
    "cpcb_nwmp_min": Source("government", 2, False),
    "cpcb_nwmp_max": Source("government", 2, False),
    "cpcb_nwmp_value": Source("government", 2, False),
    "sentinel2": Source("satellite", 3, True),
    "landsat8": Source("satellite", 3, True),
    "landsat9": Source("satellite", 3, True),
    "forecast": Source("model", 4, True),
}
