"""Issue, revoke and list device credentials in `ops.devices`; keep the broker's files in step.

The warehouse is the source of truth: after every change the broker fragment of this warehouse is
re-rendered from the table (never edited in place), so a crash between the two is repaired by the next
`purehealth sensors sync`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

from purehealth_pipelines.devices import broker, credentials


@dataclass(frozen=True)
class Issued:
    """A credential as shown once to the operator: the secret is not stored anywhere."""

    username: str
    station_id: str
    sensor_id: str
    secret: str

    @property
    def http_token(self) -> str:
        return credentials.http_token(self.username, self.secret)


@dataclass(frozen=True)
class DeviceRow:
    username: str
    station_id: str
    sensor_id: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None


def add(url: str, station_id: str, sensor_id: str = "main", note: str | None = None) -> Issued:
    """Issue a credential for `sensor_id` at `station_id`; an active one for the same sensor is revoked.

    Re-issuing rotates: the old secret stops working at the broker's reload, which is what an operator
    wants when a device's secret leaked or the device was replaced.
    """
    for value, what in ((station_id, "station id"), (sensor_id, "sensor id")):
        if not credentials.valid_id(value):
            raise ValueError(f"{what} {value!r}: use letters, digits, '_', '.', '-' (at most 64)")
    secret = credentials.new_secret()
    username = f"{station_id}/{sensor_id}/{secrets.token_hex(3)}"
    with psycopg.connect(url) as conn:
        known = conn.execute("SELECT 1 FROM ref.stations WHERE station_id = %s", (station_id,)).fetchone()
        if known is None:
            raise ValueError(f"station {station_id!r} is not in ref.stations")
        conn.execute(
            "UPDATE ops.devices SET revoked_at = now() "
            "WHERE station_id = %s AND sensor_id = %s AND revoked_at IS NULL",
            (station_id, sensor_id),
        )
        conn.execute(
            "INSERT INTO ops.devices (username, station_id, sensor_id, secret_hash, note) "
            "VALUES (%s, %s, %s, %s, %s)",
            (username, station_id, sensor_id, credentials.hash_secret(secret), note),
        )
    sync(url)
    return Issued(username, station_id, sensor_id, secret)


def provision(url: str, station_ids: list[str], sensor_id: str) -> dict[str, tuple[str, str]]:
    """Issue a fresh credential for `sensor_id` at each station; {station: (username, secret)}.

    For our own publishers on the real tree (the demo seeding, the simulator): they hold their secrets
    only in memory, so every run rotates them — the previous run's credentials stop working.
    """
    issued: dict[str, tuple[str, str]] = {}
    with psycopg.connect(url) as conn:
        for station in station_ids:
            secret = credentials.new_secret()
            username = f"{station}/{sensor_id}/{secrets.token_hex(3)}"
            conn.execute(
                "UPDATE ops.devices SET revoked_at = now() "
                "WHERE station_id = %s AND sensor_id = %s AND revoked_at IS NULL",
                (station, sensor_id),
            )
            conn.execute(
                "INSERT INTO ops.devices (username, station_id, sensor_id, secret_hash, note) "
                "VALUES (%s, %s, %s, %s, 'provisioned by a PureHealth publisher')",
                (username, station, sensor_id, credentials.hash_secret(secret)),
            )
            issued[station] = (username, secret)
    sync(url)
    return issued


def revoke(url: str, station_id: str, sensor_id: str | None = None) -> list[str]:
    """Revoke the active credentials of a station (or of one sensor there); returns the usernames."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "UPDATE ops.devices SET revoked_at = now() WHERE station_id = %s "
            "AND (%s::text IS NULL OR sensor_id = %s) AND revoked_at IS NULL RETURNING username",
            (station_id, sensor_id, sensor_id),
        ).fetchall()
    sync(url)
    return [r[0] for r in rows]


def list_devices(url: str, include_revoked: bool = False) -> list[DeviceRow]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT username, station_id, sensor_id, secret_hash, created_at, revoked_at FROM ops.devices "
            "WHERE %s OR revoked_at IS NULL ORDER BY station_id, sensor_id, created_at",
            (include_revoked,),
        ).fetchall()
    return [DeviceRow(*row) for row in rows]


def active_device(conn: psycopg.Connection, username: str) -> DeviceRow | None:
    """The active credential with this username."""
    return active_devices(conn, [username]).get(username)


def active_devices(conn: psycopg.Connection, usernames: list[str]) -> dict[str, DeviceRow]:
    """The active credentials among `usernames`, by username (the HTTP ingest checks a group at once)."""
    rows = conn.execute(
        "SELECT username, station_id, sensor_id, secret_hash, created_at, revoked_at FROM ops.devices "
        "WHERE username = ANY(%s) AND revoked_at IS NULL",
        (usernames,),
    ).fetchall()
    return {row[0]: DeviceRow(*row) for row in rows}


def sync(url: str) -> bool:
    """Re-render this warehouse's broker fragment from ops.devices and reload the broker."""
    entries = [broker.DeviceEntry(d.username, d.station_id, d.secret_hash) for d in list_devices(url)]
    return broker.publish_fragment(broker.fragment_name(url), entries)
