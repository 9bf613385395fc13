"""Operators who act on alerts through the API: tokens issued once, stored hashed, checked per request.

A token is `<name>:<secret>` (the same shape as the devices' HTTP tokens), the secret hashed with the one
helper the project has for secrets (devices/credentials.py: PBKDF2-SHA512 in Mosquitto's `$7$` format).
Its low iteration count is sound here for the same reason as there: the secret is ~190 random bits, not a
password a person chose, so there is nothing to guess from a stolen hash. The name is what the audit
(ops.alert_actions.actor) records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from purehealth_pipelines.devices.credentials import (
    hash_secret,
    http_token,
    new_secret,
    split_token,
    verify_secret,
)

ACTIONS = ("ack", "assign", "resolve")
_NAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")  # the same rule as the table's CHECK (migration 1200)
# Verified when the name is unknown, so a wrong name costs the same time as a wrong secret.
_DUMMY_HASH = hash_secret(new_secret())


@dataclass(frozen=True)
class Operator:
    name: str
    actions: tuple[str, ...]


class OperatorError(ValueError):
    """Bad input to issue or revoke (a sentence for the CLI)."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise OperatorError(
            f"operator name {name!r} is not allowed: 1-64 of letters, digits, '_', '.', '@', '-'"
        )
    return name


def check_actions(actions: list[str] | None) -> list[str]:
    chosen = list(actions) if actions else list(ACTIONS)
    unknown = sorted(set(chosen) - set(ACTIONS))
    if unknown:
        raise OperatorError(f"unknown action(s) {', '.join(unknown)}; choose from {', '.join(ACTIONS)}")
    return chosen


def issue(
    conn: psycopg.Connection, name: str, actions: list[str] | None = None, note: str | None = None
) -> str:
    """A new token for `name` (replacing an earlier one, revoked or not). Returns the token: shown once."""
    check_name(name)
    chosen = check_actions(actions)
    secret = new_secret()
    conn.execute(
        """INSERT INTO ops.alert_operators (name, token_hash, actions, note) VALUES (%s, %s, %s, %s)
           ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash, actions = EXCLUDED.actions,
               note = EXCLUDED.note, created_at = now(), revoked_at = NULL""",
        (name, hash_secret(secret), chosen, note),
    )
    return http_token(name, secret)


def revoke(conn: psycopg.Connection, name: str) -> bool:
    """Revoke the operator's token (the row stays for the audit). False if there was no active token."""
    cur = conn.execute(
        "UPDATE ops.alert_operators SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL", (name,)
    )
    return cur.rowcount == 1


def authenticate(conn: psycopg.Connection, token: str) -> Operator | None:
    """The active operator a token belongs to, or None (unknown name, wrong secret, revoked)."""
    parts = split_token(token)
    row = None
    if parts is not None:
        row = conn.execute(
            "SELECT token_hash, actions FROM ops.alert_operators WHERE name = %s AND revoked_at IS NULL",
            (parts[0],),
        ).fetchone()
    ok = verify_secret(parts[1] if parts else "", row[0] if row else _DUMMY_HASH)
    if parts is None or row is None or not ok:
        return None
    return Operator(parts[0], tuple(row[1]))
