"""Browser tickets (live/tickets.py): minted by the read API per page load, verified by the real broadcaster
against the key both read from the real warehouse; single-use, expiring, tamper-evident, rotatable."""

from __future__ import annotations

import asyncio
import json
import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from purehealth_pipelines.api.app import ApiConfig, create_app
from purehealth_pipelines.live import tickets
from purehealth_pipelines.live.channels import READINGS_CHANNEL, load_secret, seal
from purehealth_pipelines_tests.live.test_broadcaster import (
    TOKEN,
    analyst_url,
    receive_until,
    run,
    shutdown,
    start,
)

pytestmark = pytest.mark.timeout(90)
KEY = b"k" * 32


def test_mint_and_verify_are_inverse_and_refuse_what_they_should() -> None:
    now = 1_800_000_000.0
    ticket, expires = tickets.mint(7, KEY, now, ttl_s=60)
    assert expires == 1_800_000_060 and tickets.is_ticket(ticket) and not tickets.is_ticket(TOKEN)
    fields = tickets.verify(ticket, {7: KEY}, now + 59)
    assert (fields.key_id, fields.scope, fields.expires_at) == (7, "subscribe", expires)
    assert tickets.mint(7, KEY, now)[0] != ticket  # a fresh nonce each time
    cases = {
        "ticket expired": (ticket, {7: KEY}, now + 60),
        "unknown ticket key 7": (ticket, {8: KEY}, now),
        "bad ticket signature": (ticket, {7: b"other"}, now),
        "malformed ticket": ("t1.7.subscribe", {7: KEY}, now),
    }
    # Stretching the expiry (or widening the scope) breaks the signature.
    version, key_id, scope, _, nonce, mac = ticket.split(".")
    cases["bad ticket signature "] = (
        f"{version}.{key_id}.{scope}.{expires + 3600}.{nonce}.{mac}",
        {7: KEY},
        now,
    )
    cases["bad ticket signature  "] = (f"{version}.{key_id}.operator.{expires}.{nonce}.{mac}", {7: KEY}, now)
    for reason, (candidate, keys, at) in cases.items():
        with pytest.raises(tickets.TicketError, match=reason.strip()):
            tickets.verify(candidate, keys, at)
    with pytest.raises(ValueError, match=r"1\.\.900"):
        tickets.mint(7, KEY, now, ttl_s=24 * 3600)
    with pytest.raises(ValueError, match="unknown ticket scope"):
        tickets.mint(7, KEY, now, scope="operator")
    ledger = tickets.NonceLedger()
    ledger.claim(fields, now)
    with pytest.raises(tickets.TicketError, match="already used"):
        ledger.claim(fields, now + 1)


def test_api_ticket_opens_one_live_connection_then_nothing(module_warehouse_url: str) -> None:
    url = module_warehouse_url
    app = create_app(ApiConfig(database_url=analyst_url(url), ws_url="ws://{host}:1/"))
    with TestClient(app) as api:
        live = [api.get("/api/live").json() for _ in range(3)]
    fresh, spare, _ = (entry["ticket"] for entry in live)
    with psycopg.connect(url) as conn:
        keys = tickets.load_keys(conn)
        key_id = max(keys)
    expired, _ = tickets.mint(key_id, keys[key_id], time.time() - 120, ttl_s=60)
    forged, _ = tickets.mint(key_id, b"not-the-warehouse-key", time.time())

    async def refused(uri: str) -> int:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(uri, compression=None):
                pass
        return caught.value.response.status_code

    async def scenario() -> None:
        broadcaster, stop, task, uri = await start(url)
        try:
            async with connect(f"{uri}?token={fresh}&stations=*", compression=None) as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello" and hello["client"].startswith("ticket:")
                with psycopg.connect(url, autocommit=True) as conn:
                    secret = load_secret(conn)
                    message = {"type": "reading", "station_id": "TKT-1", "ts": "2026-01-01T00:00:00Z"}
                    body = f"TKT-1\t{json.dumps({**message, 'values': {}})}"
                    conn.execute(
                        "SELECT pg_notify(%s, %s)", (READINGS_CHANNEL, seal(secret, READINGS_CHANNEL, body))
                    )
                got = await receive_until(ws, lambda m: any(x.get("station_id") == "TKT-1" for x in m))
                assert any(m.get("type") == "reading" for m in got)
                # A ticket client reads; it may replay what it missed like any page.
                await ws.send(json.dumps({"action": "replay", "since": "2026-01-01T00:00:00+00:00"}))
                done = await receive_until(ws, lambda m: any(x.get("type") == "replay_complete" for x in m))
                assert done[-1]["type"] == "replay_complete"
            # Single use, expiry, forgery: each refused at the handshake with 401.
            for bad in (fresh, expired, forged):
                assert await refused(f"{uri}?token={bad}&stations=*") == 401, bad
            assert broadcaster.counters["tickets_refused_total"] == 3
            # Rotation: a key inserted after the broadcaster started is picked up on first sight of its id.
            with psycopg.connect(url, autocommit=True) as conn:
                new_id, new_key = conn.execute(
                    "INSERT INTO ops.ws_ticket_keys (secret) VALUES ('rotated-' || md5(random()::text))"
                    " RETURNING key_id, secret"
                ).fetchone()
            rotated, _ = tickets.mint(new_id, new_key.encode(), time.time())
            await asyncio.sleep(tickets_reload_wait())
            async with connect(f"{uri}?token={rotated}&stations=*", compression=None) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            async with connect(
                f"{uri}?token={spare}&stations=*", compression=None
            ) as ws:  # old key still valid
                assert json.loads(await ws.recv())["type"] == "hello"
            assert broadcaster.counters["tickets_accepted_total"] == 3
        finally:
            await shutdown(stop, task)

    run(scenario())


def tickets_reload_wait() -> float:
    """How long after start the broadcaster may re-read keys for an unknown id (its rate limit)."""
    from realtime_bridge.broadcaster import TICKET_KEYS_RELOAD_S

    return TICKET_KEYS_RELOAD_S


def test_analyst_reads_the_ticket_key_and_nothing_else_in_ops(module_warehouse_url: str) -> None:
    with psycopg.connect(analyst_url(module_warehouse_url), autocommit=True) as conn:
        assert tickets.load_keys(conn)
        for table in ("ops.notify_keys", "ops.dead_letters", "ops.alert_subscriptions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
