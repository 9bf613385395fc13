"""The live boundary's contract: NOTIFY channels, their payload limit, and sealing payloads against forgery.

Writers (the bridge, `mart/alerts`, the forecast issue) announce committed rows with `pg_notify`; the
WebSocket broadcaster LISTENs and pushes them to dashboards. PostgreSQL has no privilege on NOTIFY channels:
any role that can connect — the read-only analyst included — can `SELECT pg_notify('purehealth_events', …)`.
So a payload is never trusted for having arrived on a channel. Every writer *seals* it with an HMAC-SHA256
over the channel and the body, keyed by a secret that only writer roles can read (`ops.notify_keys`, created
by migration 0500 from the server's strong random generator; `PUREHEALTH_NOTIFY_SECRET` overrides it), and
the broadcaster drops whatever does not verify. Why HMAC rather than "notify keys, read rows back": the
bridge announces thousands of readings a second, and re-reading each from the table would double the
database work of the live path; a MAC costs microseconds per 8 kB payload and needs no extra query.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

READINGS_CHANNEL = "purehealth_readings"  # bridge -> broadcaster: lines "station_id\t{json}" joined by "\n"
EVENTS_CHANNEL = "purehealth_events"  # alerts and forecasts -> broadcaster: one JSON object per payload
CHANNELS = (READINGS_CHANNEL, EVENTS_CHANNEL)

# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more ("payload string too long").
NOTIFY_LIMIT_BYTES = 7999
SEAL_VERSION = "s1"
_MAC_HEX = 64
SEAL_OVERHEAD_BYTES = len(SEAL_VERSION) + 1 + _MAC_HEX + 1  # "s1:" + mac + "\n"
# The most a writer may put in one payload body so that the sealed payload still fits.
MAX_PAYLOAD_BYTES = NOTIFY_LIMIT_BYTES - SEAL_OVERHEAD_BYTES

SECRET_ENV = "PUREHEALTH_NOTIFY_SECRET"
KEY_SQL = "SELECT secret FROM ops.notify_keys ORDER BY created_at DESC LIMIT 1"


def load_secret(conn: psycopg.Connection) -> bytes:
    """The sealing secret: `PUREHEALTH_NOTIFY_SECRET`, else the newest `ops.notify_keys` row.

    Raises a clear error when the connecting role cannot read it (e.g. the analyst): such a role cannot
    write, so it has nothing to announce.
    """
    configured = os.environ.get(SECRET_ENV)
    if configured:
        return configured.encode()
    try:
        row = conn.execute(KEY_SQL).fetchone()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionError(
            "this role cannot read ops.notify_keys, so it cannot announce live events (writer roles only)"
        ) from exc
    if row is None:
        raise LookupError("ops.notify_keys is empty: run `purehealth db migrate`")
    return str(row[0]).encode()


def _mac(secret: bytes, channel: str, body: str) -> str:
    return hmac.new(secret, f"{channel}\n{body}".encode(), hashlib.sha256).hexdigest()


def seal(secret: bytes, channel: str, body: str) -> str:
    """`s1:<hmac>\\n<body>`: what a writer passes to pg_notify on `channel`."""
    if len(body.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"NOTIFY body of {len(body.encode())} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return f"{SEAL_VERSION}:{_mac(secret, channel, body)}\n{body}"


def unseal(secret: bytes, channel: str, payload: str) -> str | None:
    """The body of a payload sealed with `secret` for `channel`, or None if it is not (forged or stale)."""
    head, sep, body = payload.partition("\n")
    version, colon, mac = head.partition(":")
    if not sep or not colon or version != SEAL_VERSION or len(mac) != _MAC_HEX:
        return None
    return body if hmac.compare_digest(mac, _mac(secret, channel, body)) else None


# --- the messages -----------------------------------------------------------------------------------------
# What a dashboard receives, built here and only here, whether it comes live (a writer's NOTIFY) or from a
# replay (the broadcaster reading the tables back): the two must be indistinguishable but for "replay".


def reading_message(
    station_id: str, ts: str, values: Mapping[str, Any], sensor_id: str | None = None, seq: int | None = None
) -> dict[str, Any]:
    """`{"type": "reading", station_id, ts, values[, sensor_id][, seq]}`; `ts` is already ISO 8601 text."""
    message: dict[str, Any] = {"type": "reading", "station_id": station_id, "ts": ts, "values": values}
    if sensor_id is not None:
        message["sensor_id"] = sensor_id
    if seq is not None:
        message["seq"] = seq
    return message


# mart.alerts columns an alert message carries, by name (loaders select them by these names).
ALERT_MESSAGE_FIELDS = (
    "alert_id",
    "station_id",
    "parameter",
    "rule",
    "severity",
    "status",
    "first_seen",
    "last_seen",
    "resolved_at",
    "message",
)
_ALERT_TEXT_CUT = 500  # characters of the alert's text kept when the whole would not fit one NOTIFY


def alert_message(alert: Mapping[str, Any], **extra: Any) -> str:
    """EVENTS_CHANNEL body for an alert's current state: `{"type": "alert", <ALERT_MESSAGE_FIELDS>, **extra}`.

    Timestamps become ISO 8601; the alert's text is shortened if the body would not fit a sealed NOTIFY.
    """
    body: dict[str, Any] = {"type": "alert"}
    for name in ALERT_MESSAGE_FIELDS:
        value = alert[name]
        body[name] = value.isoformat() if isinstance(value, datetime) else value
    body.update(extra)
    text = json.dumps(body, ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        body["message"] = str(alert["message"])[:_ALERT_TEXT_CUT]
        text = json.dumps(body, ensure_ascii=False)
    return text


__all__ = [
    "ALERT_MESSAGE_FIELDS",
    "CHANNELS",
    "EVENTS_CHANNEL",
    "MAX_PAYLOAD_BYTES",
    "NOTIFY_LIMIT_BYTES",
    "READINGS_CHANNEL",
    "alert_message",
    "load_secret",
    "reading_message",
    "seal",
    "unseal",
]
