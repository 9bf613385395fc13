"""The I/O around the pure scoring: read raw windows, score, write core.readings partitions.

Used by the Dagster asset, the `purehealth quality score` command, the tests and the bench, so all of them
run exactly the same path. Reads go through warehouse.reader (COPY, typed by the server); the
write is `write_partition` (one transaction: delete the window, COPY the new rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from purehealth_pipelines.quality.config import QcConfig
from purehealth_pipelines.quality.drift import REFERENCE_COLUMNS, learn_drift_reference
from purehealth_pipelines.quality.qartod import QC_COLUMNS, score_readings
from purehealth_pipelines.quality.unify import RAW_SOURCE_QUERIES, canonicalise
from purehealth_pipelines.resources.warehouse import WarehouseResource
from purehealth_pipelines.vocabulary import TIMEZONE
from purehealth_pipelines.warehouse.reader import read_frame
from purehealth_pipelines.warehouse.writer import copy_frame, write_partition

CORE_READINGS_COLUMNS: tuple[str, ...] = (
    "station_id",
    "parameter",
    "ts",
    "source",
    "value",
    "unit",
    "censored",
    "qc_flag",
    *QC_COLUMNS,
    "approval_status",
    "qc_version",
)
DEAD_LETTER_SOURCE = "core.readings"


def read_raw_window(conn: psycopg.Connection, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every raw source's rows in [start, end), long and labelled with their core.readings source name."""
    frames = []
    for query in RAW_SOURCE_QUERIES.values():
        frame = read_frame(conn, query, {"start": start.to_pydatetime(), "end": end.to_pydatetime()})
        if not frame.empty:
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["station_id", "parameter", "ts", "source", "value", "unit", "censored"])
    return pd.concat(frames, ignore_index=True)


def read_climatology(conn: psycopg.Connection) -> tuple[pd.DataFrame, str | None]:
    """The current climatology spans and their version (None when nothing has been learned yet)."""
    frame = read_frame(
        conn,
        "SELECT version, station_id, parameter, month, suspect_min, suspect_max"
        " FROM core.qc_climatology_current",
    )
    version = str(frame["version"].iloc[0]) if not frame.empty else None
    return frame, version


def read_drift_reference(conn: psycopg.Connection) -> tuple[pd.DataFrame, str | None]:
    """The current drift-test references and their version (None when nothing has been learned yet)."""
    frame = read_frame(
        conn,
        "SELECT version, station_id, parameter, model, ratio, center, scale, threshold"
        " FROM core.qc_drift_reference_current",
    )
    version = str(frame["version"].iloc[0]) if not frame.empty else None
    return frame, version


def drift_parameters(config: QcConfig) -> tuple[list[str], list[str]]:
    """(parameters with a drift model, those plus the covariates their models read)."""
    modelled = [p for p, t in config.parameters.items() if t.drift is not None]
    needed = set(modelled)
    for parameter in modelled:
        spec = config.parameters[parameter].drift
        needed |= {c for c in (spec.covariate, spec.exempt_covariate) if c}
    return modelled, sorted(needed)


def learn_drift_references(
    warehouse: WarehouseResource, config: QcConfig, *, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Every station's drift reference from its last `learning_days` of core.readings (not failed, not
    missing), one station at a time so a year of 15-min history for hundreds of stations never sits in
    memory at once. Columns: drift.REFERENCE_COLUMNS."""
    modelled, needed = drift_parameters(config)
    if not modelled:
        return pd.DataFrame(columns=list(REFERENCE_COLUMNS))
    until = until if until is not None else pd.Timestamp.now(tz="UTC")
    since = until - pd.Timedelta(days=config.drift.learning_days)
    window = {"since": since.to_pydatetime(), "until": until.to_pydatetime()}
    with warehouse.connect() as conn:
        stations = read_frame(
            conn,
            "SELECT DISTINCT station_id FROM core.readings WHERE parameter = ANY(%(modelled)s)"
            " AND ts >= %(since)s AND ts < %(until)s ORDER BY station_id",
            {**window, "modelled": modelled},
        )["station_id"].tolist()
        learned = []
        for station in stations:
            history = read_frame(
                conn,
                "SELECT station_id, parameter, source, ts, value, qc_flag FROM core.readings"
                " WHERE station_id = %(station)s AND parameter = ANY(%(needed)s)"
                " AND ts >= %(since)s AND ts < %(until)s AND qc_flag NOT IN (4, 9) AND censored IS NULL",
                {**window, "station": station, "needed": needed},
            )
            if not history.empty:
                learned.append(learn_drift_reference(history, config))
    learned = [frame for frame in learned if len(frame)]
    return pd.concat(learned, ignore_index=True) if learned else pd.DataFrame(columns=list(REFERENCE_COLUMNS))


@dataclass
class ScoreSummary:
    """What one window's scoring did (for logs and Dagster metadata)."""

    rows_written: int = 0
    rows_replaced: int = 0
    dead_letters: int = 0
    flag_counts: dict[str, int] = field(default_factory=dict)
    per_source: dict[str, int] = field(default_factory=dict)
    qc_version: str = ""
    seconds_read: float = 0.0
    seconds_score: float = 0.0
    seconds_write: float = 0.0

    def add(self, other: ScoreSummary) -> None:
        self.rows_written += other.rows_written
        self.rows_replaced += other.rows_replaced
        self.dead_letters += other.dead_letters
        for target, source in ((self.flag_counts, other.flag_counts), (self.per_source, other.per_source)):
            for key, value in source.items():
                target[key] = target.get(key, 0) + value
        self.qc_version = other.qc_version
        self.seconds_read += other.seconds_read
        self.seconds_score += other.seconds_score
        self.seconds_write += other.seconds_write


def daily_windows(start: datetime, end: datetime, timezone: str = TIMEZONE) -> Iterator[tuple]:
    """Split [start, end) at IST midnights, so a year-long backfill run holds one day in memory at a time."""
    cursor = pd.Timestamp(start)
    stop = pd.Timestamp(end)
    while cursor < stop:
        next_midnight = (cursor.tz_convert(timezone).normalize() + pd.Timedelta(days=1)).tz_convert(cursor.tz)
        upper = min(next_midnight, stop)
        yield cursor, upper
        cursor = upper


def score_window(
    warehouse: WarehouseResource,
    start: datetime,
    end: datetime,
    config: QcConfig,
    *,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, ScoreSummary]:
    """Read raw rows of [start, end) plus context, canonicalise, score, write core.readings for the window."""
    start_ts, end_ts = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    context_start = start_ts - pd.Timedelta(hours=config.lookback_hours)
    context_end = end_ts + pd.Timedelta(hours=config.lookahead_hours)
    summary = ScoreSummary(qc_version=config.version)

    began = time.perf_counter()
    with warehouse.connect() as conn:
        raw = read_raw_window(conn, context_start, context_end)
        climatology, climatology_version = read_climatology(conn)
        drift_reference, drift_version = read_drift_reference(conn)
    summary.seconds_read = time.perf_counter() - began

    began = time.perf_counter()
    canonical, rejected = canonicalise(raw)
    version = config.version + "".join(f"+{v}" for v in (climatology_version, drift_version) if v)
    scored = score_readings(
        canonical,
        config,
        climatology=climatology,
        context_start=context_start,
        now=now,
        drift_reference=drift_reference,
    )
    scored["qc_version"] = version
    summary.qc_version = version
    in_window = (scored["ts"] >= start_ts) & (scored["ts"] < end_ts)
    out = scored.loc[in_window].reset_index(drop=True)
    out["approval_status"] = "provisional"
    rejected = (
        rejected[(rejected["ts"] >= start_ts) & (rejected["ts"] < end_ts)] if len(rejected) else rejected
    )
    summary.seconds_score = time.perf_counter() - began

    began = time.perf_counter()
    write = warehouse.write_partition("core.readings", out[list(CORE_READINGS_COLUMNS)], start_ts, end_ts)
    summary.dead_letters = _replace_dead_letters(warehouse, rejected, start_ts, end_ts)
    summary.seconds_write = time.perf_counter() - began
    summary.rows_written = write.rows_written
    summary.rows_replaced = write.rows_deleted
    summary.flag_counts = {str(k): int(v) for k, v in out["quality"].value_counts().items()}
    summary.per_source = {str(k): int(v) for k, v in out["source"].value_counts().items()}
    return out, summary


def _replace_dead_letters(
    warehouse: WarehouseResource, rejected: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> int:
    """Rows that could not be made canonical, per window: a re-run replaces them instead of piling up."""
    origin = f"[{start.isoformat()}, {end.isoformat()})"
    with warehouse.connect() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "DELETE FROM ops.dead_letters WHERE source = %s AND origin = %s", (DEAD_LETTER_SOURCE, origin)
        )
        if rejected.empty:
            return 0
        letters = pd.DataFrame(
            {
                "source": DEAD_LETTER_SOURCE,
                "origin": origin,
                "payload": rejected[["station_id", "parameter", "ts", "source", "value", "unit"]]
                .astype(str)
                .agg(",".join, axis=1),
                "reason": rejected["reason"],
            }
        )
        return copy_frame(cur, "ops.dead_letters", letters)


def score_range(
    warehouse: WarehouseResource,
    start: datetime,
    end: datetime,
    config: QcConfig,
    *,
    now: pd.Timestamp | None = None,
    progress: Any = None,
) -> ScoreSummary:
    """Score [start, end) day by day (each day its own write transaction); returns the summed summary."""
    total = ScoreSummary(qc_version=config.version)
    for day_start, day_end in daily_windows(start, end):
        _, summary = score_window(warehouse, day_start, day_end, config, now=now)
        total.add(summary)
        if progress is not None:
            progress(day_start, summary)
    return total


__all__ = [
    "CORE_READINGS_COLUMNS",
    "ScoreSummary",
    "daily_windows",
    "drift_parameters",
    "learn_drift_references",
    "read_drift_reference",
    "read_raw_window",
    "score_range",
    "score_window",
    "write_partition",
]
