"""Browser tickets for the WebSocket broadcaster: short-lived, subscribe-only, signed; minted per page load.

Why: a browser needs a credential to open the broadcaster's WebSocket, and whatever the page is given, anyone
who loads the page has. Handing it the operator's long-lived token (as /api/live once did) gave every visitor
a credential that worked for as long as the deployment, for whatever operators may do. A ticket instead:

- is minted by the read API for each page load (GET /api/live) and expires `DEFAULT_TTL_S` later: it only has
  to open one connection (checked at the WebSocket handshake; an open connection is not cut at expiry), and
  the page fetches a fresh one for every reconnect;
- is used once: the broadcaster remembers the nonces it has accepted until they expire, so a ticket copied
  out of a page or a log opens no second connection;
- carries its scope, `subscribe`: the broadcaster lets such a client subscribe, list stations and replay
  what it missed (reading what the page shows), and nothing an operator token may do besides;
- is signed with HMAC-SHA256 by a key in the warehouse, `ops.ws_ticket_keys` (migration 1300), which the
  API reads through its read-only analyst login and the broadcaster through the writer login. No secret is
  configured by hand, and none is shared with the NOTIFY sealing key (`ops.notify_keys`, writers only).

Anyone holding the analyst login can therefore mint tickets: that lets them watch the live readings, which
that login can already read in the warehouse, and nothing more. Rotating: insert a new key row; tickets
name their key (`key_id`), the API signs with the newest, and the broadcaster re-reads the keys when it sees
an id it does not know. Deleting a row revokes every ticket signed with it.

Format: `t1.<key_id>.<scope>.<expires_at>.<nonce>.<hex hmac over everything before it>`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import psycopg

TICKET_VERSION = "t1"
SCOPE_SUBSCRIBE = "subscribe"
SCOPES = frozenset({SCOPE_SUBSCRIBE})
DEFAULT_TTL_S = 60
MAX_TTL_S = 15 * 60  # a ticket lives minutes, never as long as a token
KEYS_SQL = "SELECT key_id, secret FROM ops.ws_ticket_keys ORDER BY key_id"


class TicketError(ValueError):
    """Why a ticket was refused (malformed, unknown key, bad signature, expired, unknown scope, reused)."""


@dataclass(frozen=True)
class Ticket:
    key_id: int
    scope: str
    expires_at: int
    nonce: str


def is_ticket(credential: str) -> bool:
    """True if `credential` has the shape of a ticket (rather than an operator token)."""
    return credential.startswith(TICKET_VERSION + ".")


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def mint(
    key_id: int, key: bytes, now: float, ttl_s: int = DEFAULT_TTL_S, scope: str = SCOPE_SUBSCRIBE
) -> tuple[str, int]:
    """A new ticket and its expiry (Unix seconds). `ttl_s` is capped at MAX_TTL_S; scope must be known."""
    if scope not in SCOPES:
        raise ValueError(f"unknown ticket scope {scope!r}: one of {sorted(SCOPES)}")
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"a ticket lives 1..{MAX_TTL_S} s, not {ttl_s}")
    expires_at = int(now) + ttl_s
    body = f"{TICKET_VERSION}.{key_id}.{scope}.{expires_at}.{secrets.token_hex(12)}"
    return f"{body}.{_mac(key, body)}", expires_at


def parse(ticket: str) -> tuple[Ticket, str, str]:
    """The ticket's fields, the signed body and the signature; raises TicketError if it is not one."""
    parts = ticket.split(".")
    if len(parts) != 6 or parts[0] != TICKET_VERSION:
        raise TicketError("malformed ticket")
    _, key_id, scope, expires_at, nonce, signature = parts
    if not (key_id.isdigit() and expires_at.isdigit() and nonce and len(signature) == 64):
        raise TicketError("malformed ticket")
    return Ticket(int(key_id), scope, int(expires_at), nonce), ticket.rsplit(".", 1)[0], signature


def verify(ticket: str, keys: dict[int, bytes], now: float) -> Ticket:
    """The ticket's fields if it is signed by one of `keys`, unexpired and of a known scope; else TicketError.

    The signature is checked before anything it vouches for (expiry, scope), in constant time.
    """
    fields, body, signature = parse(ticket)
    key = keys.get(fields.key_id)
    if key is None:
        raise TicketError(f"unknown ticket key {fields.key_id}")
    if not hmac.compare_digest(signature, _mac(key, body)):
        raise TicketError("bad ticket signature")
    if fields.expires_at <= now:
        raise TicketError("ticket expired")
    if fields.scope not in SCOPES:
        raise TicketError(f"unknown ticket scope {fields.scope!r}")
    return fields


class NonceLedger:
    """The nonces of accepted tickets until they expire: a ticket opens one connection only. Bounded by
    the tickets minted within one MAX_TTL_S, which is the API's page loads; expired entries are purged as
    new ones arrive."""

    def __init__(self) -> None:
        self._expiry: dict[str, int] = {}

    def claim(self, ticket: Ticket, now: float) -> None:
        """Record the ticket's nonce; TicketError if it was already used."""
        if len(self._expiry) > 1024:
            self._expiry = {n: e for n, e in self._expiry.items() if e > now}
        if ticket.nonce in self._expiry:
            raise TicketError("ticket already used")
        self._expiry[ticket.nonce] = ticket.expires_at

    def __len__(self) -> int:
        return len(self._expiry)


def load_keys(conn: psycopg.Connection) -> dict[int, bytes]:
    """Every ticket key by id (the API signs with the newest; the broadcaster accepts any listed)."""
    try:
        rows = conn.execute(KEYS_SQL).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise LookupError("ops.ws_ticket_keys is missing: run `purehealth db migrate`") from exc
    if not rows:
        raise LookupError("ops.ws_ticket_keys is empty: run `purehealth db migrate`")
    return {int(key_id): str(secret).encode() for key_id, secret in rows}


async def load_keys_async(conn: psycopg.AsyncConnection) -> dict[int, bytes]:
    """load_keys for the broadcaster's event loop."""
    cursor = await conn.execute(KEYS_SQL)
    return {int(key_id): str(secret).encode() for key_id, secret in await cursor.fetchall()}


__all__ = [
    "DEFAULT_TTL_S",
    "MAX_TTL_S",
    "SCOPE_SUBSCRIBE",
    "NonceLedger",
    "Ticket",
    "TicketError",
    "is_ticket",
    "load_keys",
    "load_keys_async",
    "mint",
    "parse",
    "verify",
]
