"""The batch writer: one transaction per batch, idempotent, and only then may the bridge acknowledge.

Per batch (ThingsBoard and the prototype do the same, docs/performance.md): each validated readings message
becomes ONE row of raw.sensor_messages (parameters and values as parallel arrays; migration 0201 says why:
one tuple and one index entry per message instead of one per reading is what lifted the database's share
of the landing rate). The rows are COPYed (text format, built as one string: the per-row Python cost
dominates, psycopg's row adapter is slower) straight into the hypertable inside a savepoint. COPY cannot
skip conflicts, so when the unique key (station_id, ts, sensor_id) rejects the batch — a redelivered
message — the savepoint is rolled back and the same rows go through a per-connection temp staging table and
`INSERT … SELECT … ON CONFLICT DO NOTHING`, which makes the redelivery a no-op. A message that hits the key
with *different* content is not a redelivery: it goes to ops.dead_letters (reason conflicting_duplicate)
rather than vanishing. Rejected messages go to ops.dead_letters, station health is upserted, and the
broadcaster is told through `pg_notify` — all in the same transaction, so nothing is visible (or broadcast)
before COMMIT, and a failure rolls everything back and the bridge does not acknowledge. `prepare` (CPU only)
and `commit` (database) are separate so the bridge can pipeline them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from purehealth_pipelines.live.channels import (
    MAX_PAYLOAD_BYTES,
    READINGS_CHANNEL,
    load_secret,
    reading_message,
    seal,
)
from realtime_bridge.validation import (
    LIVE_NETWORK,
    TOPIC_PREFIX,
    Catalog,
    Heartbeat,
    Reading,
    Rejection,
    validate_reading,
    validate_status,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

try:  # orjson (optional) encodes the NOTIFY fragments ~5x faster than the stdlib
    import orjson as _orjson

    def _dumps(message: dict) -> str:
        return _orjson.dumps(message).decode()

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(message: dict) -> str:
        return json.dumps(message, separators=(",", ":"))


DEAD_LETTER_SOURCE = "mqtt"

NULL = "\\N"  # COPY text format's NULL
CONFLICT_REASON = "conflicting_duplicate"
_CONFLICT = Rejection(
    CONFLICT_REASON, "a different message for this station, sensor_id and ts is already stored"
)
_ARRAY_SAFE_CODE = re.compile(r"[A-Za-z0-9_]+")
_MESSAGE_COLUMNS = 'station_id, ts, sensor_id, parameters, "values", seq'
# Created once per connection; ON COMMIT DELETE ROWS empties it at every commit. `pos` = line number in
# the batch's COPY text, to find the payload of a message that conflicts with a stored one.
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS bridge_staging_messages (
    pos int, station_id text, ts timestamptz, sensor_id text, parameters text[], "values" double precision[],
    seq bigint
) ON COMMIT DELETE ROWS
"""
_COPY_DIRECT = f"COPY raw.sensor_messages ({_MESSAGE_COLUMNS}) FROM STDIN"
_COPY_STAGING = f"COPY bridge_staging_messages (pos, {_MESSAGE_COLUMNS}) FROM STDIN"
# Returns the batch position and reading count of each message new to the table (the first staged copy of
# a key wins: rows are inserted in position order), so only those are broadcast.
_MOVE_SQL = f"""
WITH inserted AS (
    INSERT INTO raw.sensor_messages ({_MESSAGE_COLUMNS})
    SELECT {_MESSAGE_COLUMNS} FROM bridge_staging_messages ORDER BY pos
    ON CONFLICT (station_id, ts, sensor_id) DO NOTHING
    RETURNING station_id, ts, sensor_id, cardinality(parameters) AS readings
)
SELECT DISTINCT ON (s.station_id, s.ts, s.sensor_id) s.pos, i.readings
  FROM inserted i
  JOIN bridge_staging_messages s
    ON s.station_id = i.station_id AND s.ts = i.ts AND s.sensor_id IS NOT DISTINCT FROM i.sensor_id
 ORDER BY s.station_id, s.ts, s.sensor_id, s.pos
"""
# Staged messages whose key is taken by a stored message with other content (not a redelivery). A message
# that _MOVE_SQL inserted matches itself and is not reported.
_CONFLICTS_SQL = """
SELECT s.pos FROM bridge_staging_messages s
  JOIN raw.sensor_messages m
    ON m.station_id = s.station_id AND m.ts = s.ts AND m.sensor_id IS NOT DISTINCT FROM s.sensor_id
 WHERE (m.parameters, m."values") IS DISTINCT FROM (s.parameters, s."values")
 ORDER BY s.pos
"""
# DISTINCT ON: the same redelivered message twice in one batch is still one dead letter. The source is a
# literal so that the partial index of migration 0202 ('mqtt') / 1100 ('http') applies.
_REDELIVERED_DEAD_LETTERS_TEMPLATE = """
INSERT INTO ops.dead_letters (source, origin, payload, reason, details)
SELECT DISTINCT ON (u.origin, u.payload, u.reason)
       '{source}', u.origin, u.payload, u.reason, u.details::jsonb
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(origin, payload, reason, details)
 WHERE NOT EXISTS (SELECT 1 FROM ops.dead_letters d
                    WHERE d.source = '{source}' AND d.origin = u.origin
                      AND md5(d.payload) = md5(u.payload) AND d.reason = u.reason AND d.payload = u.payload)
"""
_SAFE_SOURCE = re.compile(r"[a-z_]{1,32}")
_HEALTH_SQL = """
INSERT INTO ops.sensor_health AS h
       (station_id, status, reported_status, last_seen, last_reading_ts, last_heartbeat_at,
        battery_pct, signal_dbm, messages_total, updated_at)
SELECT u.station_id, 'online', u.reported_status, now(), u.last_reading_ts, u.last_heartbeat_at,
       u.battery_pct, u.signal_dbm, u.messages, now()
  FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::float8[], %s::float8[],
              %s::bigint[])
       AS u(station_id, reported_status, last_reading_ts, last_heartbeat_at, battery_pct, signal_dbm,
            messages)
 ORDER BY u.station_id
ON CONFLICT (station_id) DO UPDATE SET
    status = 'online',
    offline_since = NULL,
    reported_status = coalesce(EXCLUDED.reported_status, h.reported_status),
    last_seen = greatest(h.last_seen, EXCLUDED.last_seen),
    last_reading_ts = greatest(h.last_reading_ts, EXCLUDED.last_reading_ts),
    last_heartbeat_at = greatest(h.last_heartbeat_at, EXCLUDED.last_heartbeat_at),
    battery_pct = coalesce(EXCLUDED.battery_pct, h.battery_pct),
    signal_dbm = coalesce(EXCLUDED.signal_dbm, h.signal_dbm),
    messages_total = h.messages_total + EXCLUDED.messages_total,
    updated_at = now()
"""
_OFFLINE_SQL = """
UPDATE ops.sensor_health SET status = 'offline', offline_since = now(), updated_at = now()
 WHERE status = 'online' AND last_seen < now() - %s::interval
RETURNING station_id
"""
_RATE_SQL = """
UPDATE ops.sensor_health
   SET messages_per_min = (messages_total - rate_base_total) * 60.0
                          / greatest(extract(epoch FROM now() - rate_checked_at), 1.0),
       rate_base_total = messages_total, rate_checked_at = now()
 WHERE rate_checked_at < now() - interval '30 seconds'
"""


@dataclass(slots=True)
class Inbound:
    """One received MQTT message waiting for its batch; `generation` is the connection it arrived on.

    `dup` is the MQTT DUP flag: the broker is re-sending a message it sent before (we may have committed it
    and crashed before the PUBACK).
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    dup: bool = False


@dataclass
class BatchResult:
    messages: int = 0
    readings: int = 0  # accepted readings messages
    rows_offered: int = 0
    rows_inserted: int = 0  # rows new to raw.sensor_readings (offered - inserted = duplicates absorbed)
    heartbeats: int = 0
    dead_letters: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    messages_new: int = 0  # accepted readings messages new to raw.sensor_messages (the rest: redeliveries)
    new_positions: list[int] | None = None  # which of the batch's accepted messages were new (None = all)
    conflicts: list[Inbound] = field(default_factory=list)  # dead-lettered as conflicting_duplicate


def load_catalog(conn: psycopg.Connection, topic_prefix: str = TOPIC_PREFIX) -> Catalog:
    """Registered active stations (and which of them have live sensors) and parameter units from ref.*."""
    registered = conn.execute("SELECT station_id, network FROM ref.stations WHERE active").fetchall()
    stations = frozenset(station for station, _ in registered)
    live_stations = frozenset(station for station, network in registered if network == LIVE_NETWORK)
    units = {}
    for code, unit in conn.execute("SELECT code, unit FROM ref.parameters").fetchall():
        # Codes go unquoted into the COPY array literal of raw.sensor_messages.parameters.
        if _ARRAY_SAFE_CODE.fullmatch(code) and code.lower() != "null":
            units[code] = unit
        else:
            log.warning("parameter code %r cannot be landed by the bridge (use letters, digits, _)", code)
    conn.commit()
    return Catalog(stations=stations, units=units, topic_prefix=topic_prefix, live_stations=live_stations)


def _message_line(
    station_id: str, ts_text: str, sensor_id: str | None, codes: str, numbers: str, seq: int | None
) -> str:
    """One raw.sensor_messages row in COPY text; `codes` / `numbers` are the comma-joined array elements
    (codes are catalog identifiers, load_catalog checks, so the array literals need no quoting)."""
    sensor = _copy_text(sensor_id) if sensor_id else NULL
    return (
        f"{station_id}\t{ts_text}\t{sensor}\t{{{codes}}}\t{{{numbers}}}\t{seq if seq is not None else NULL}\n"
    )


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _payload_text(payload: bytes) -> str:
    """The raw payload as storable text: undecodable bytes escaped, NUL (which text cannot hold) escaped."""
    return payload.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


@dataclass(slots=True)
class _Health:
    messages: int = 0
    last_reading_ts: datetime | None = None
    last_heartbeat_at: datetime | None = None
    reported_status: str | None = None
    battery_pct: float | None = None
    signal_dbm: float | None = None


@dataclass
class PreparedBatch:
    """A validated batch, ready for one transaction (built off the database thread)."""

    result: BatchResult
    lines: list[str] = field(default_factory=list)  # one COPY line per accepted readings message
    sources: list[Inbound] = field(default_factory=list)  # the message behind each line
    copy_text: str = ""
    notices: list[str] = field(default_factory=list)  # when notifying: one per line, same order
    notify_payload: str = ""
    dead: list[tuple[Inbound, Rejection]] = field(default_factory=list)
    health: dict[str, _Health] = field(default_factory=dict)


class BatchWriter:
    """Owns one psycopg connection (non-autocommit) and writes whole batches in single transactions."""

    def __init__(
        self,
        url: str,
        *,
        notify: bool = True,
        max_future: timedelta = timedelta(minutes=5),
        topic_prefix: str = TOPIC_PREFIX,
        dead_letter_source: str = DEAD_LETTER_SOURCE,
        session_role: str | None = None,
        application_name: str = "purehealth-bridge",
    ) -> None:
        """`dead_letter_source` / `session_role` / `application_name` let the HTTP ingest
        (purehealth_pipelines/api/ingest.py) reuse this writer: its dead letters say 'http', and its sessions
        `SET ROLE` to a narrower role than the login's.
        """
        if not _SAFE_SOURCE.fullmatch(dead_letter_source):
            raise ValueError(f"dead-letter source {dead_letter_source!r}: lower-case letters and '_' only")
        self.url = url
        self.dead_letter_source = dead_letter_source
        self.session_role = session_role
        self.application_name = application_name
        self._redelivered_sql = _REDELIVERED_DEAD_LETTERS_TEMPLATE.format(source=dead_letter_source)
        self.topic_prefix = topic_prefix
        self.notify = notify
        self.max_future = max_future
        self.conn: psycopg.Connection | None = None
        self.catalog: Catalog | None = None
        self.notify_secret: bytes = b""

    def connect(self) -> None:
        self.close()
        conn = psycopg.connect(self.url, application_name=self.application_name, connect_timeout=5)
        if self.session_role:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.session_role)))
        # Bound every bridge transaction: the Dagster sensor's high-water mark relies on no transaction
        # holding ingested_at = now() open for long (see purehealth_pipelines/live/sensor.py).
        conn.execute("SET statement_timeout = '60s'")
        conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        conn.execute(_STAGING_DDL)
        self.notify_secret = load_secret(conn)
        conn.commit()
        self.conn = conn
        self.catalog = load_catalog(conn, self.topic_prefix)

    def _sealed_notices(self, notices: list[str]) -> str:
        """NOTIFY payloads for `notices`, each sealed (live.channels), joined by \\x1e for one statement."""
        return "\x1e".join(
            seal(self.notify_secret, READINGS_CHANNEL, chunk) for chunk in _chunk_notices(notices)
        )

    def refresh_catalog(self) -> None:
        if self.conn is not None:
            self.catalog = load_catalog(self.conn, self.topic_prefix)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the connection may be gone
                self.conn.close()
        self.conn = None

    def write(self, batch: Sequence[Inbound], now: datetime) -> BatchResult:
        """Validate and land `batch` in ONE transaction; raises psycopg errors (caller retries, no ack)."""
        if self.conn is None or self.catalog is None:
            self.connect()
        return self.commit(self.prepare(batch, now))

    def prepare(self, batch: Sequence[Inbound], now: datetime) -> PreparedBatch:
        """Validate `batch` and build everything the transaction needs (pure CPU, no database).

        Separate from `commit` so the bridge can prepare the next batch while this one is in the database.
        """
        catalog = self.catalog  # replaced whole by refresh_catalog, so reading it here is thread-safe
        if catalog is None:
            raise RuntimeError("no catalog: connect() before preparing batches")
        max_future, notify = self.max_future, self.notify
        result = BatchResult(messages=len(batch))
        prepared = PreparedBatch(result)
        lines = prepared.lines
        sources = prepared.sources
        notices = prepared.notices
        dead = prepared.dead
        health = prepared.health
        for item in batch:
            topic = item.topic
            if topic.endswith("/status"):
                outcome: Reading | Heartbeat | Rejection = validate_status(
                    topic, item.payload, catalog, now, max_future
                )
            else:
                outcome = validate_reading(topic, item.payload, catalog, now, max_future)
            if type(outcome) is Reading:
                result.readings += 1
                station_id = outcome.station_id
                ts_text = outcome.ts.isoformat()
                sensor_id, seq = outcome.sensor_id, outcome.seq
                values = outcome.values
                lines.append(
                    _message_line(
                        station_id,
                        ts_text,
                        sensor_id,
                        ",".join(values),
                        ",".join(map(repr, values.values())),
                        seq,
                    )
                )
                sources.append(item)
                result.rows_offered += len(values)
                state = health.get(station_id)
                if state is None:
                    state = health[station_id] = _Health()
                state.messages += 1
                if state.last_reading_ts is None or outcome.ts > state.last_reading_ts:
                    state.last_reading_ts = outcome.ts
                if notify:
                    message = reading_message(station_id, ts_text, values, sensor_id, seq)
                    notices.append(f"{station_id}\t{_dumps(message)}")
            elif type(outcome) is Heartbeat:
                result.heartbeats += 1
                state = health.get(outcome.station_id)
                if state is None:
                    state = health[outcome.station_id] = _Health()
                state.messages += 1
                state.last_heartbeat_at = now
                state.reported_status = outcome.status or state.reported_status
                state.battery_pct = (
                    outcome.battery_pct if outcome.battery_pct is not None else state.battery_pct
                )
                state.signal_dbm = outcome.signal_dbm if outcome.signal_dbm is not None else state.signal_dbm
            else:
                assert isinstance(outcome, Rejection)
                dead.append((item, outcome))
                result.reasons[outcome.reason] = result.reasons.get(outcome.reason, 0) + 1
        result.dead_letters = len(dead)
        if notices:
            prepared.notify_payload = self._sealed_notices(notices)
        if lines:
            prepared.copy_text = "".join(lines)
        return prepared

    def commit(self, prepared: PreparedBatch) -> BatchResult:
        """Write a prepared batch in ONE transaction and COMMIT; raises psycopg errors (no ack then)."""
        if self.conn is None or self.catalog is None:
            self.connect()
        conn = self.conn
        assert conn is not None
        result = prepared.result
        try:
            with conn.cursor() as cur:
                inserted, conflicts, notify_payload = 0, [], prepared.notify_payload
                new_positions: list[int] | None = []
                if prepared.copy_text:
                    inserted, conflicts, new_positions = self._insert_messages(cur, prepared)
                    if new_positions is not None and prepared.notices:
                        # Redelivered (already broadcast) and conflicting messages are not broadcast again.
                        notify_payload = self._sealed_notices(
                            [prepared.notices[pos] for pos in new_positions]
                        )
                dead = prepared.dead + [(prepared.sources[pos], _CONFLICT) for pos in conflicts]
                if dead:
                    self._insert_dead_letters(cur, dead)
                if prepared.health:
                    self._upsert_health(cur, prepared.health)
                if notify_payload:
                    # One text parameter split on the server: binding a text[] of JSON makes psycopg
                    # quote-escape every element, which cost more than the whole INSERT (profiled).
                    cur.execute(
                        f"SELECT pg_notify('{READINGS_CHANNEL}', p) FROM string_to_table(%s, E'\\x1e') AS p",
                        (notify_payload,),
                    )
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the connection may be gone
                conn.rollback()
            raise
        # Counted only after COMMIT: a failed attempt is retried with the same prepared batch.
        result.rows_inserted = inserted
        result.messages_new = len(prepared.lines) if new_positions is None else len(new_positions)
        result.new_positions = new_positions
        result.conflicts = [prepared.sources[pos] for pos in conflicts]
        if conflicts:
            result.readings -= len(conflicts)
            result.dead_letters += len(conflicts)
            result.reasons[CONFLICT_REASON] = result.reasons.get(CONFLICT_REASON, 0) + len(conflicts)
        return result

    def _insert_messages(
        self, cur: psycopg.Cursor, prepared: PreparedBatch
    ) -> tuple[int, list[int], list[int] | None]:
        """Land the messages; returns (readings new to the table, positions of conflicting messages,
        positions of the messages new to the table or None for all of them).

        Optimistic: COPY straight into the hypertable inside a savepoint (the common case: nothing was
        delivered before). A redelivered message makes the COPY fail on the unique key; then the savepoint
        is rolled back and the same rows go through the staging table with ON CONFLICT DO NOTHING, which
        skips exactly the messages already there; what hit the key with other content is reported.
        """
        cur.execute("SAVEPOINT bridge_readings")
        try:
            with cur.copy(_COPY_DIRECT) as copy:
                copy.write(prepared.copy_text)
            cur.execute("RELEASE SAVEPOINT bridge_readings")
            return prepared.result.rows_offered, [], None
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT bridge_readings")
        with cur.copy(_COPY_STAGING) as copy:
            copy.write("".join(f"{pos}\t{line}" for pos, line in enumerate(prepared.lines)))
        cur.execute(_MOVE_SQL)
        new = sorted(cur.fetchall())
        cur.execute(_CONFLICTS_SQL)
        conflicts = [row[0] for row in cur.fetchall()]
        return sum(readings for _, readings in new), conflicts, [pos for pos, _ in new]

    def _insert_dead_letters(self, cur: psycopg.Cursor, dead: list[tuple[Inbound, Rejection]]) -> None:
        """COPY the batch's dead letters; a redelivered (DUP) message's only if not recorded already.

        Why: a crash between COMMIT and PUBACK makes the broker resend the message with DUP set; without
        the check its dead letter would be recorded twice. The cost: if a sensor sends the same bad payload
        twice and the second copy is redelivered after such a crash, the two are recorded once.
        """
        rows = [
            (
                _payload_text(item.topic.encode("utf-8", "surrogateescape")),
                _payload_text(item.payload),
                rejection.reason,
                json.dumps({"detail": rejection.detail}),
                item.dup,
            )
            for item, rejection in dead
        ]
        fresh = [row[:4] for row in rows if not row[4]]
        if fresh:
            with cur.copy(
                "COPY ops.dead_letters (source, origin, payload, reason, details) FROM STDIN"
            ) as copy:
                for row in fresh:
                    copy.write_row((self.dead_letter_source, *row))
        redelivered = [row[:4] for row in rows if row[4]]
        if redelivered:
            cur.execute(self._redelivered_sql, [list(column) for column in zip(*redelivered, strict=True)])

    @staticmethod
    def _upsert_health(cur: psycopg.Cursor, health: dict[str, _Health]) -> None:
        stations = sorted(health)  # a stable lock order: several bridge instances never deadlock
        states = [health[s] for s in stations]
        cur.execute(
            _HEALTH_SQL,
            (
                stations,
                [s.reported_status for s in states],
                [s.last_reading_ts for s in states],
                [s.last_heartbeat_at for s in states],
                [s.battery_pct for s in states],
                [s.signal_dbm for s in states],
                [s.messages for s in states],
            ),
        )

    def mark_offline(self, quiet_for: timedelta) -> list[str]:
        """The once-a-minute check: stations silent for `quiet_for` become offline; rates are refreshed."""
        if self.conn is None:
            self.connect()
        assert self.conn is not None
        try:
            with self.conn.cursor() as cur:
                cur.execute(_OFFLINE_SQL, (quiet_for,))
                went_offline = [r[0] for r in cur.fetchall()]
                cur.execute(_RATE_SQL)
            self.conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the connection may be gone
                self.conn.rollback()
            raise
        return went_offline


def _chunk_notices(notices: list[str]) -> list[str]:
    """Pack `station\\tjson` lines into NOTIFY bodies that still fit PostgreSQL's limit once sealed."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in notices:
        length = len(line.encode()) + 1
        if length > MAX_PAYLOAD_BYTES:
            log.warning("reading too large to broadcast (%d bytes); it is stored but not pushed", length)
            continue
        if size + length > MAX_PAYLOAD_BYTES and current:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append("\n".join(current))
    return chunks


def copy_readings(cur: psycopg.Cursor, frame: pd.DataFrame) -> int:
    """Land long-format readings (station_id, parameter, ts, value[, sensor_id, seq]) outside MQTT.

    For imports, back-fills and tests that hold readings one per row: they become raw.sensor_messages rows
    the way the bridge writes them, one per (station_id, ts, sensor_id). No validation and no dead letters:
    the caller vouches for the rows (the bridge is the path for untrusted input). Returns messages written.
    """
    import pandas as pd  # not at module level: the bridge process never needs it

    if frame.empty:
        return 0
    data = frame.assign(sensor_id=frame.get("sensor_id"), seq=frame.get("seq"))
    data["sensor_id"] = data["sensor_id"].astype(object).where(data["sensor_id"].notna(), "")
    lines = []
    grouped = data.groupby(["station_id", "ts", "sensor_id"], sort=False)
    for (station_id, ts, sensor_id), group in grouped:
        values = ",".join("NULL" if pd.isna(v) else repr(float(v)) for v in group["value"])
        seq = group["seq"].dropna()
        lines.append(
            _message_line(
                _copy_text(str(station_id)),
                pd.Timestamp(ts).isoformat(),
                str(sensor_id) or None,
                ",".join(group["parameter"]),
                values,
                int(seq.iloc[0]) if len(seq) else None,
            )
        )
    with cur.copy(_COPY_DIRECT) as copy:
        copy.write("".join(lines))
    return len(lines)
