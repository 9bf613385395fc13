"""One financial year of MPCB's "Water Quality Status of Maharashtra", as data: read once, summarised purely.

The report (PDF and workbook) renders only what is here, so both show the same numbers, and the numbers are
those of mart.station_wqi_annual / mart.station_wqi_monthly — the report never recomputes an index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import psycopg

from purehealth_pipelines.marts.wqi_annual import (
    WQI_CLASS_COLUMNS,
    financial_year_bounds,
    financial_year_label,
)
from purehealth_pipelines.warehouse.reader import read_frame

ANNUAL_SQL = "SELECT * FROM mart.station_wqi_annual WHERE fy_start = %(start)s ORDER BY station_id"
MONTHLY_SQL = """
SELECT * FROM mart.station_wqi_monthly WHERE month >= %(start)s AND month < %(end)s ORDER BY station_id, month
"""
STATIONS_SQL = """
SELECT station_id, name, network, river, district, basin, latitude, longitude, location_source,
       designated_best_use
FROM ref.stations
"""
SAMPLE_NOTES_SQL = """
SELECT station_id, censored_inputs, excluded_inputs, missing_parameters, wqi IS NOT NULL AS has_wqi
FROM mart.sample_wqi WHERE sample_ts >= %(start)s AND sample_ts < %(end)s
"""
QC_FLAGS_SQL = """
SELECT r.qc_flag, count(*) AS readings FROM core.readings r
WHERE r.ts >= %(start)s AND r.ts < %(end)s AND r.source = ANY(%(sources)s)
  AND r.parameter IN ('do_mg_l', 'bod_mg_l', 'ph', 'fc_mpn_100ml', 'tc_mpn_100ml')
GROUP BY r.qc_flag ORDER BY r.qc_flag
"""
WQI_LETTERS = tuple(WQI_CLASS_COLUMNS)  # A, B, C, D/E
CLASS_LABELS = {
    "A": "Good to Excellent (63–100)",
    "B": "Medium to Good (50–63)",
    "C": "Bad (38–50)",
    "D/E": "Bad to Very Bad (< 38)",
}


@dataclass(frozen=True)
class ReportYear:
    """Everything one year's report shows."""

    fy_start_year: int
    annual: pd.DataFrame  # mart.station_wqi_annual rows of the year, joined with ref.stations
    monthly: pd.DataFrame  # mart.station_wqi_monthly rows of the year
    sample_notes: pd.DataFrame  # censored / excluded / missing inputs of the year's samples
    qc_flags: pd.DataFrame  # qc_flag counts of the lab readings of the WQI parameters

    @property
    def label(self) -> str:
        return financial_year_label(self.fy_start_year)

    @property
    def stations(self) -> list[str]:
        return self.annual["station_id"].tolist()


def load_year(
    conn: psycopg.Connection, fy_start_year: int, lab_sources: tuple[str, ...] = ("mpcb",)
) -> ReportYear:
    """Read one financial year from the marts (typed by the server, warehouse.reader)."""
    start, end = financial_year_bounds(fy_start_year)
    window = {"start": start, "end": end}
    annual = read_frame(conn, ANNUAL_SQL, window)
    stations = read_frame(conn, STATIONS_SQL)
    annual = annual.merge(stations, on="station_id", how="left")
    monthly = read_frame(conn, MONTHLY_SQL, window)
    notes = read_frame(conn, SAMPLE_NOTES_SQL, window)
    flags = read_frame(conn, QC_FLAGS_SQL, {**window, "sources": list(lab_sources)})
    return ReportYear(fy_start_year, annual, monthly, notes, flags)


def class_distribution(year: ReportYear) -> pd.DataFrame:
    """Stations by the class of their annual mean WQI, and samples by their own class (MPCB's two views)."""
    annual = year.annual
    stations = annual["wqi_class"].value_counts()
    samples = {letter: int(annual[column].sum()) for letter, column in WQI_CLASS_COLUMNS.items()}
    total_stations = int(stations.sum())
    total_samples = sum(samples.values())
    rows = []
    for letter in WQI_LETTERS:
        n = int(stations.get(letter, 0))
        rows.append(
            {
                "class": letter,
                "label": CLASS_LABELS[letter],
                "stations": n,
                "stations_pct": 100.0 * n / total_stations if total_stations else 0.0,
                "samples": samples[letter],
                "samples_pct": 100.0 * samples[letter] / total_samples if total_samples else 0.0,
            }
        )
    return pd.DataFrame(rows)


def summary(year: ReportYear) -> dict[str, object]:
    """Headline figures: stations monitored, samples, with a WQI, better / worse than last year, trends."""
    annual = year.annual
    change = annual["class_change"].value_counts()
    trend = annual["trend"].value_counts()
    return {
        "financial_year": year.label,
        "stations_monitored": len(annual),
        "stations_with_wqi": int(annual["wqi_mean"].notna().sum()),
        "samples": int(annual["samples"].sum()),
        "samples_with_wqi": int(annual["samples_with_wqi"].sum()),
        "mean_wqi": float(annual["wqi_mean"].mean()) if annual["wqi_mean"].notna().any() else None,
        "better_than_last_year": int(change.get("better", 0)),
        "worse_than_last_year": int(change.get("worse", 0)),
        "same_as_last_year": int(change.get("same", 0)),
        "improving_trend": int(trend.get("increasing", 0)),
        "deteriorating_trend": int(trend.get("decreasing", 0)),
        "no_trend": int(trend.get("no trend", 0)),
        "trend_not_assessed": int(annual["trend"].isna().sum()),
    }


def changed_stations(year: ReportYear) -> pd.DataFrame:
    """Stations whose class changed since last year or with a significant trend, worst first."""
    annual = year.annual
    mask = annual["class_change"].isin(["better", "worse"]) | annual["trend"].isin(
        ["increasing", "decreasing"]
    )
    columns = [
        "station_id",
        "name",
        "previous_wqi_class",
        "wqi_class",
        "class_change",
        "trend",
        "trend_sen_slope",
        "trend_p_value",
    ]
    return annual.loc[mask, columns].sort_values(["class_change", "station_id"], na_position="last")


def basin_table(year: ReportYear) -> pd.DataFrame:
    """Per basin: stations, samples, mean WQI and how many stations fall in each class."""
    annual = year.annual.assign(basin=year.annual["basin"].fillna("Unassigned"))
    rows = []
    for basin, frame in annual.groupby("basin", sort=True):
        classes = frame["wqi_class"].value_counts()
        rows.append(
            {
                "basin": basin,
                "stations": len(frame),
                "samples": int(frame["samples"].sum()),
                "mean_wqi": float(frame["wqi_mean"].mean()) if frame["wqi_mean"].notna().any() else None,
                **{f"class_{letter}": int(classes.get(letter, 0)) for letter in WQI_LETTERS},
            }
        )
    return pd.DataFrame(rows)


def basin_station_tables(year: ReportYear) -> dict[str, pd.DataFrame]:
    """Per basin, the stations' annual rows as MPCB tabulates them."""
    annual = year.annual.assign(basin=year.annual["basin"].fillna("Unassigned"))
    columns = ["station_id", "river", "district", "samples", "wqi_mean", "wqi_min", "wqi_max", "wqi_class"]
    return {
        basin: frame[columns].reset_index(drop=True) for basin, frame in annual.groupby("basin", sort=True)
    }


def exceedance_table(year: ReportYear) -> pd.DataFrame:
    """Long: station, designated class, criterion, samples exceeding it, samples measuring it."""
    rows = []
    for record in year.annual[["station_id", "designated_class", "exceedances"]].itertuples(index=False):
        counts = (
            record.exceedances if isinstance(record.exceedances, dict) else json.loads(record.exceedances)
        )
        for criterion, count in counts.items():
            rows.append(
                {
                    "station_id": record.station_id,
                    "designated_class": record.designated_class,
                    "criterion": criterion,
                    "exceeded": int(count["exceeded"]),
                    "measured": int(count["measured"]),
                }
            )
    columns = ["station_id", "designated_class", "criterion", "exceeded", "measured"]
    return pd.DataFrame(rows, columns=columns)


def censoring_summary(year: ReportYear) -> dict[str, int]:
    """How many of the year's samples used censored inputs, had inputs refused by QC, or had no WQI."""
    notes = year.sample_notes
    return {
        "samples": len(notes),
        "with_censored_inputs": int(notes["censored_inputs"].notna().sum()),
        "with_inputs_refused_by_qc": int(notes["excluded_inputs"].notna().sum()),
        "without_wqi": int((~notes["has_wqi"].astype(bool)).sum()) if len(notes) else 0,
    }


__all__ = [
    "CLASS_LABELS",
    "ReportYear",
    "basin_station_tables",
    "basin_table",
    "censoring_summary",
    "changed_stations",
    "class_distribution",
    "exceedance_table",
    "load_year",
    "summary",
]
