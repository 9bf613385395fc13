"""WebSocket broadcaster: committed readings, alerts and forecasts to authenticated clients.

Clients authenticate with an operator token (`--token`, or one signed with `--secret`) or, browsers, with a
single-use, short-lived, subscribe-only ticket minted by the read API (purehealth_pipelines/live/tickets.py).

Inputs (PostgreSQL LISTEN, so only committed data is ever pushed — NOTIFY is delivered at COMMIT):
Every payload is sealed with an HMAC by its writer and verified here (purehealth_pipelines/live/channels.py:
any role can NOTIFY any channel, the read-only analyst included); what does not verify is counted in
`notifications_refused_total` and dropped.
- channel `purehealth_readings`: written by the bridge in the same transaction as the rows; payload = lines
  `station_id\\t{"type":"reading",...}` (up to ~7.8 kB per notification). Fragments are forwarded to
  clients verbatim, never re-parsed.
- channel `purehealth_events`: for the other domains; payload = one JSON object
  `{"type": "alert"|"forecast", "station_id": "...", ...}` (station_id optional = every client), sealed and
  sent in the transaction that writes mart.alerts / mart.forecasts.

Fan-out: each client has a pending list filled as notifications arrive; every `window` (25 ms default) the
pending fragments become one frame (a JSON array of messages) for that client, so a client gets at most one
frame per window. Fragments are the bridge's pre-serialised JSON, joined, never re-encoded; the frame for the
all-stations clients is built once per window and shared. (Tried and measured worse: sending on the leading
edge of each client's window as notifications arrive — more frames per second, and the fan-out is bound by
frames per second: p50 108 -> 360 ms at 1,000 readings/s, bench/bench_live.py.)
Delivery (profiled: at 1,000 readings/s to 1,050 clients, an `await ws.send()` per frame through a sender
task per client could not keep up with ~35 k frames/s and latency grew to seconds): a frame for a client
whose socket is keeping up (nothing queued, transport buffer under the high-water mark) is written
synchronously with websockets' `broadcast()` — no task switch. Only a client that is behind gets its frames
queued for its own sender task, in order, in a bounded queue: past `max_pending_frames` or
`max_pending_bytes` it is closed with code 4008 and a log line — it never slows the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row
from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from purehealth_pipelines.live import tickets
from purehealth_pipelines.live.channels import (
    EVENTS_CHANNEL,
    READINGS_CHANNEL,
    load_secret,
    reading_message,
    unseal,
)

log = logging.getLogger("realtime_bridge.broadcaster")

EVENT_TYPES = frozenset({"alert", "forecast"})
REPLAY_TYPES = ("reading", "alert", "forecast")  # what a reconnecting client can ask to be replayed
CLOSE_TOO_SLOW = 4008  # application close code: "you fell too far behind"
CLOSE_BAD_REQUEST = 4400
DIRECT_WRITE_LIMIT = 32 * 1024  # websockets' default write_limit (the transport's high-water mark)
# What a client may ask, by the scope of its credential. Operator tokens may do everything; a browser ticket
# (live/tickets.py) may read: subscribe, list stations, replay what it missed.
OPERATOR_SCOPE = "operator"
SCOPE_ACTIONS = {
    OPERATOR_SCOPE: frozenset({"subscribe", "unsubscribe", "stations", "replay"}),
    tickets.SCOPE_SUBSCRIBE: frozenset({"subscribe", "unsubscribe", "stations", "replay"}),
}
TICKET_KEYS_RELOAD_S = 5.0  # at most this often, an unknown ticket key id makes the keys be re-read


def sign_token(secret: bytes, client: str, expires_at: int) -> str:
    """A signed token `client.expires_at.hexsig` (HMAC-SHA256), for deployments without a token list."""
    message = f"{client}.{expires_at}".encode()
    return f"{client}.{expires_at}.{hmac.new(secret, message, hashlib.sha256).hexdigest()}"


def check_token(token: str, tokens: frozenset[str], secret: bytes | None, now: float) -> str | None:
    """The client name if `token` is a configured token or a valid unexpired signed one, else None."""
    for known in tokens:
        if hmac.compare_digest(token.encode(), known.encode()):
            return f"token:{known[:4]}…"
    if secret is not None:
        client, _, rest = token.partition(".")
        expires, _, signature = rest.partition(".")
        if client and expires.isdigit() and signature:
            expected = sign_token(secret, client, int(expires)).rsplit(".", 1)[1]
            if hmac.compare_digest(signature, expected) and int(expires) > now:
                return client
    return None


@dataclass
class BroadcasterConfig:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8765
    tokens: frozenset[str] = frozenset()
    secret: bytes | None = None
    window_s: float = 0.025
    max_pending_frames: int = 200
    max_pending_bytes: int = 4 * 1024 * 1024
    send_buffer_bytes: int = 0
    replay_limit: int = 10_000
    health_interval_s: float = 5.0  # how often ops.sensor_health is polled for online/offline transitions
    stations_refresh_s: float = 60.0  # how often the list of known stations (ref.stations) is re-read


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    name: str
    stations: set[str] = field(default_factory=set)
    everything: bool = False
    pending: list[str] = field(default_factory=list)
    frames: deque[str] = field(default_factory=deque)
    queued_bytes: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    sent_frames: int = 0
    scope: str = OPERATOR_SCOPE


class Broadcaster:
    def __init__(self, config: BroadcasterConfig) -> None:
        self.config = config
        self.clients: set[Client] = set()
        self.by_station: dict[str, set[Client]] = {}
        self.everything: set[Client] = set()
        self.everything_pending: list[str] = []
        self.dirty: set[Client] = set()
        self.counters = {
            "notifications_total": 0,
            "readings_total": 0,
            "events_total": 0,
            "frames_total": 0,
            "clients_dropped_slow_total": 0,
            "auth_refused_total": 0,
            "clients_connected_total": 0,
            "notifications_refused_total": 0,
        }
        self.counters["station_health_total"] = 0
        self.counters["tickets_accepted_total"] = 0
        self.counters["tickets_refused_total"] = 0
        self.ticket_keys: dict[int, bytes] = {}
        self.ticket_keys_read_at = -TICKET_KEYS_RELOAD_S
        self.ticket_nonces = tickets.NonceLedger()
        self.notify_secret: bytes | None = None
        self.listening = False
        self.ready = asyncio.Event()
        self.known_stations: frozenset[str] | None = None  # None until first read: nothing is refused
        self.stations_read_at = 0.0
        self.stations_lock = asyncio.Lock()  # one ref.stations read at a time, however many clients connect
        self.health: dict[str, dict] = {}  # station_id -> {status, last_seen, ...} from ops.sensor_health

    # --- routing ------------------------------------------------------------------------------------------
    def subscribe(self, client: Client, stations: list[str] | str) -> None:
        if stations == "*":
            client.everything = True
            self.everything.add(client)
            return
        for station in stations:
            client.stations.add(station)
            self.by_station.setdefault(station, set()).add(client)

    def unsubscribe(self, client: Client, stations: list[str] | str) -> None:
        if stations == "*":
            client.everything = False
            self.everything.discard(client)
            stations = list(client.stations)
        for station in stations:
            client.stations.discard(station)
            members = self.by_station.get(station)
            if members is not None:
                members.discard(client)
                if not members:
                    del self.by_station[station]

    def remove(self, client: Client) -> None:
        self.unsubscribe(client, "*")
        self.clients.discard(client)
        self.dirty.discard(client)

    def route(self, station_id: str | None, fragment: str) -> None:
        if station_id is None:
            targets: set[Client] | list[Client] = self.clients
        else:
            self.everything_pending.append(fragment)
            targets = self.by_station.get(station_id, ())
        for client in targets:
            if station_id is None or not client.everything:
                client.pending.append(fragment)
                self.dirty.add(client)

    def _load_secret(self) -> bytes:
        with psycopg.connect(self.config.database_url, autocommit=True) as conn:
            return load_secret(conn)

    def on_notification(self, channel: str, payload: str) -> None:
        """Route a notification whose seal verifies; refuse (count, log) anything else.

        PostgreSQL lets any role NOTIFY any channel, so arrival on our channel proves nothing: only a payload
        sealed with the writers' secret (live.channels) is forwarded.
        """
        body = unseal(self.notify_secret, channel, payload) if self.notify_secret else None
        if body is None:
            self.counters["notifications_refused_total"] += 1
            refused = self.counters["notifications_refused_total"]
            if refused <= 10 or refused % 1000 == 0:
                log.warning(
                    "refused an unsealed %s notification (%d so far): %.120s", channel, refused, payload
                )
            return
        if channel == READINGS_CHANNEL:
            self.on_readings(body)
        elif channel == EVENTS_CHANNEL:
            self.on_event(body)

    def on_readings(self, payload: str) -> None:
        self.counters["notifications_total"] += 1
        for line in payload.split("\n"):
            station_id, sep, fragment = line.partition("\t")
            if sep:
                self.counters["readings_total"] += 1
                self.route(station_id, fragment)

    def on_event(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("ignoring a %s notification that is not JSON: %.200s", EVENTS_CHANNEL, payload)
            return
        if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
            log.warning(
                "ignoring a %s notification without type alert|forecast: %.200s", EVENTS_CHANNEL, payload
            )
            return
        self.counters["events_total"] += 1
        station_id = event.get("station_id")
        self.route(
            station_id if isinstance(station_id, str) else None, json.dumps(event, separators=(",", ":"))
        )

    # --- per-window flush ---------------------------------------------------------------------------------
    def flush(self) -> None:
        if self.everything_pending:
            frame = "[" + ",".join(self.everything_pending) + "]"
            self.everything_pending = []
            ready = []
            for client in list(self.everything):
                if self._can_write_now(client):
                    ready.append(client.ws)
                else:
                    self.enqueue(client, frame)
            if ready:
                broadcast(ready, frame)  # the frame is UTF-8 encoded once for all of them
                self.counters["frames_total"] += len(ready)
        dirty, self.dirty = self.dirty, set()
        for client in dirty:
            if client.pending and not client.dropped:
                frame = "[" + ",".join(client.pending) + "]"
                client.pending = []
                self.deliver(client, frame)

    def _can_write_now(self, client: Client) -> bool:
        """Nothing queued before it (order) and the socket keeps up (transport under its high-water mark)."""
        if client.dropped or client.frames:
            return False
        transport = client.ws.transport
        return transport is not None and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT

    def deliver(self, client: Client, frame: str) -> None:
        if self._can_write_now(client):
            broadcast((client.ws,), frame)
            client.sent_frames += 1
            self.counters["frames_total"] += 1
        else:
            self.enqueue(client, frame)

    def enqueue(self, client: Client, frame: str) -> None:
        if client.dropped:
            return
        cfg = self.config
        if (
            len(client.frames) >= cfg.max_pending_frames
            or client.queued_bytes + len(frame) > cfg.max_pending_bytes
        ):
            self.drop_slow(client)
            return
        client.frames.append(frame)
        client.queued_bytes += len(frame)
        client.wake.set()

    def drop_slow(self, client: Client) -> None:
        client.dropped = True
        self.counters["clients_dropped_slow_total"] += 1
        log.warning(
            "dropping slow client %s (%s): %d frames / %d bytes not yet sent; close code %d",
            client.name,
            client.ws.remote_address,
            len(client.frames),
            client.queued_bytes,
            CLOSE_TOO_SLOW,
        )
        self.remove(client)
        client.frames.clear()
        client.wake.set()
        # Close without waiting for the handshake: a stalled peer would not answer it anyway.
        asyncio.get_running_loop().create_task(client.ws.close(CLOSE_TOO_SLOW, "client too slow"))

    async def sender(self, client: Client) -> None:
        ws = client.ws
        while not client.dropped:
            await client.wake.wait()
            client.wake.clear()
            while client.frames and not client.dropped:
                frame = client.frames.popleft()
                client.queued_bytes -= len(frame)
                await ws.send(frame)
                client.sent_frames += 1
                self.counters["frames_total"] += 1

    async def flusher(self) -> None:
        window = self.config.window_s
        while True:
            await asyncio.sleep(window)
            try:
                self.flush()
            except Exception:
                log.exception("flush failed")

    # --- PostgreSQL input ---------------------------------------------------------------------------------
    async def listener(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.config.database_url, autocommit=True, application_name="purehealth-broadcaster"
                ) as conn:
                    self.notify_secret = await asyncio.to_thread(self._load_secret)
                    await self.reload_ticket_keys(conn)
                    await conn.execute(f"LISTEN {READINGS_CHANNEL}")
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self.listening = True
                    await self.refresh_stations(force=True)
                    self.ready.set()
                    delay = 0.5
                    log.info("listening on %s and %s", READINGS_CHANNEL, EVENTS_CHANNEL)
                    async for notify in conn.notifies():
                        self.on_notification(notify.channel, notify.payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.listening = False
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # --- stations and their health ------------------------------------------------------------------------
    async def refresh_stations(self, force: bool = False) -> frozenset[str] | None:
        """ref.stations ids, re-read at most every `stations_refresh_s` (or now when `force`)."""
        now = time.monotonic()
        if (
            force
            or self.known_stations is None
            or now - self.stations_read_at > self.config.stations_refresh_s
        ):
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.config.database_url, autocommit=True
                ) as conn:
                    cursor = await conn.execute("SELECT station_id FROM ref.stations")
                    self.known_stations = frozenset(row[0] for row in await cursor.fetchall())
                self.stations_read_at = now
            except psycopg.Error as exc:
                log.warning("could not read ref.stations (%s); station ids are not checked meanwhile", exc)
        return self.known_stations

    async def unknown_stations(self, stations: list[str]) -> list[str]:
        """The ids not in ref.stations (re-read once if any look unknown, so a new station is accepted)."""
        known = await self.refresh_stations()
        if known is None:
            return []
        unknown = [s for s in stations if s not in known]
        if unknown and time.monotonic() - self.stations_read_at > 5:
            known = await self.refresh_stations(force=True) or known
            unknown = [s for s in stations if s not in known]
        return sorted(set(unknown))

    async def poll_health(self) -> None:
        """Announce sensor online/offline transitions from ops.sensor_health (kept by the bridge).

        The bridge marks a station online with each message it lands and offline after `--offline-after` of
        silence (its once-a-minute check); this turns those row changes into `station_health` messages for
        the station's subscribers. The first read is the baseline: no message for the state clients get on
        asking `{"action": "stations"}`.
        """
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.config.database_url, autocommit=True
                ) as conn:
                    while True:
                        cursor = await conn.execute(
                            """SELECT station_id, status, last_seen, last_reading_ts, offline_since
                                 FROM ops.sensor_health"""
                        )
                        current = {
                            row[0]: {
                                "type": "station_health",
                                "station_id": row[0],
                                "status": row[1],
                                "last_seen": row[2].isoformat() if row[2] else None,
                                "last_reading_ts": row[3].isoformat() if row[3] else None,
                                "offline_since": row[4].isoformat() if row[4] else None,
                            }
                            for row in await cursor.fetchall()
                        }
                        if not first:
                            for station_id, health in current.items():
                                before = self.health.get(station_id)
                                if before is None or before["status"] != health["status"]:
                                    self.counters["station_health_total"] += 1
                                    self.route(station_id, json.dumps(health, separators=(",", ":")))
                        self.health = current
                        first = False
                        await asyncio.sleep(self.config.health_interval_s)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("sensor health poll failed (%s); retrying", exc)
                await asyncio.sleep(min(10.0, self.config.health_interval_s * 2))
            except psycopg.errors.UndefinedTable:
                log.warning("ops.sensor_health is missing: no station_health messages (run db migrate)")
                return

    def stations_message(self) -> dict:
        """`{"type": "stations", "stations": [...]}`: every live-sensor station's health (ops.sensor_health).

        All of them, whatever the client subscribed to: it is the list a client picks its subscriptions from.
        """
        return {"type": "stations", "stations": [h for _, h in sorted(self.health.items())]}

    async def replay(self, client: Client, request: dict) -> None:
        """What a reconnecting client missed since `since`, for its stations; then replay_complete.

        Readings committed after `since` (by ingested_at, oldest first, at most `limit`); alerts whose row
        changed after `since`, in their current state; and the newest forecast per station and parameter if
        issued after `since` (older issues are superseded). Alerts and forecasts use the same payload
        functions as the live NOTIFYs (marts.alerts.notify_payload, forecasting.publish.forecast_payloads),
        so a replayed message is the message the client would have received. `types` picks a subset.
        """
        try:
            since = datetime.fromisoformat(str(request["since"]))
            if since.tzinfo is None:
                raise ValueError("since needs a UTC offset")
        except (KeyError, ValueError) as exc:
            await client.ws.send(
                json.dumps({"type": "error", "error": f"replay needs 'since' (ISO-8601): {exc}"})
            )
            return
        stations = request.get("stations") or (None if client.everything else sorted(client.stations))
        limit = min(int(request.get("limit", self.config.replay_limit)), self.config.replay_limit)
        types = set(request.get("types") or REPLAY_TYPES)
        if not types <= set(REPLAY_TYPES):
            await client.ws.send(
                json.dumps({"type": "error", "error": f"replay types must be among {list(REPLAY_TYPES)}"})
            )
            return
        by = request.get("by", "ingested")
        if by not in ("ingested", "ts"):
            await client.ws.send(
                json.dumps({"type": "error", "error": "replay 'by' must be 'ingested' (default) or 'ts'"})
            )
            return
        scope = {"since": since, "all": stations is None, "stations": stations or [], "limit": limit}
        rows, messages = [], []
        async with await psycopg.AsyncConnection.connect(self.config.database_url, autocommit=True) as conn:
            if "reading" in types:
                # by "ingested": what was committed after `since` (a reconnecting client's catch-up); by "ts":
                # readings measured after `since` (history), whatever their commit time.
                column = "ingested_at" if by == "ingested" else "ts"
                cursor = await conn.execute(
                    f"""SELECT station_id, ts, parameters, "values", sensor_id, seq, ingested_at
                          FROM raw.sensor_messages
                         WHERE {column} > %(since)s
                           AND (%(all)s OR station_id = ANY(%(stations)s))
                         ORDER BY {column}, station_id, ts
                         LIMIT %(limit)s""",
                    scope,
                )
                rows = await cursor.fetchall()
            if "alert" in types:
                messages += await _replay_alerts(conn, scope)
            if "forecast" in types:
                messages += await _replay_forecasts(conn, scope)
        for station_id, ts, parameters, values, sensor_id, seq, _ in rows:
            values_by_parameter = dict(zip(parameters, values, strict=True))
            message = reading_message(station_id, ts.isoformat(), values_by_parameter, sensor_id, seq)
            messages.append({**message, "replay": True})
        last = rows[-1] if rows else None
        until = (last[6] if by == "ingested" else last[1]).isoformat() if last else since.isoformat()
        if messages:
            await client.ws.send(json.dumps(messages, separators=(",", ":")))
        counts = {kind: sum(1 for m in messages if m["type"] == kind) for kind in REPLAY_TYPES}
        await client.ws.send(
            json.dumps(
                {
                    "type": "replay_complete",
                    "count": counts["reading"],  # readings, as documented; the other kinds beside it
                    "alerts": counts["alert"],
                    "forecasts": counts["forecast"],
                    "messages": len(messages),
                    "by": by,
                    "until": until,
                    "truncated": len(rows) == limit,
                }
            )
        )

    # --- WebSocket side -----------------------------------------------------------------------------------
    async def reload_ticket_keys(self, conn: psycopg.AsyncConnection | None = None) -> None:
        """Re-read ops.ws_ticket_keys (at start, and when a ticket names a key id not seen yet)."""
        self.ticket_keys_read_at = time.monotonic()
        try:
            if conn is not None:
                self.ticket_keys = await tickets.load_keys_async(conn)
                return
            async with await psycopg.AsyncConnection.connect(
                self.config.database_url, autocommit=True
            ) as fresh:
                self.ticket_keys = await tickets.load_keys_async(fresh)
        except psycopg.Error as exc:
            log.warning("could not read ops.ws_ticket_keys (%s): browser tickets are refused meanwhile", exc)

    async def check_ticket(self, ticket: str) -> tickets.Ticket:
        """The ticket if it verifies and was not used before; TicketError (with the reason) otherwise."""
        fields = tickets.parse(ticket)[0]
        if (
            fields.key_id not in self.ticket_keys
            and time.monotonic() - self.ticket_keys_read_at > TICKET_KEYS_RELOAD_S
        ):
            await self.reload_ticket_keys()  # a rotated-in key
        now = time.time()
        verified = tickets.verify(ticket, self.ticket_keys, now)
        self.ticket_nonces.claim(verified, now)
        return verified

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path)
        if path.path == "/health":
            body = {"listening": self.listening, "clients": len(self.clients), **self.counters}
            status = HTTPStatus.OK if self.listening else HTTPStatus.SERVICE_UNAVAILABLE
            return connection.respond(status, json.dumps(body) + "\n")
        if path.path == "/metrics":
            gauges = {"clients": len(self.clients), "listening": int(self.listening)}
            lines = [
                f"purehealth_broadcaster_{k} {v}" for k, v in sorted({**self.counters, **gauges}.items())
            ]
            return connection.respond(HTTPStatus.OK, "\n".join(lines) + "\n")
        query = parse_qs(path.query)
        token = (query.get("token") or [""])[0]
        header = request.headers.get("Authorization", "")
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        scope = OPERATOR_SCOPE
        if token and tickets.is_ticket(token):
            try:
                ticket = await self.check_ticket(token)
            except tickets.TicketError as exc:
                self.counters["tickets_refused_total"] += 1
                self.counters["auth_refused_total"] += 1
                log.info("refused WebSocket ticket from %s: %s", connection.remote_address, exc)
                return connection.respond(HTTPStatus.UNAUTHORIZED, f"ticket refused: {exc}\n")
            self.counters["tickets_accepted_total"] += 1
            name, scope = f"ticket:{ticket.nonce[:6]}", ticket.scope
        else:
            name = check_token(token, self.config.tokens, self.config.secret, time.time()) if token else None
        if name is None:
            self.counters["auth_refused_total"] += 1
            log.info(
                "refused WebSocket connection from %s: %s",
                connection.remote_address,
                "no token" if not token else "invalid token",
            )
            return connection.respond(HTTPStatus.UNAUTHORIZED, "a valid token is required\n")
        connection.purehealth_client = name  # type: ignore[attr-defined]
        connection.purehealth_scope = scope  # type: ignore[attr-defined]
        return None

    async def handler(self, ws: ServerConnection) -> None:
        if self.config.send_buffer_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer_bytes)
        client = Client(
            ws=ws,
            name=getattr(ws, "purehealth_client", "?"),
            scope=getattr(ws, "purehealth_scope", OPERATOR_SCOPE),
        )
        stations_param = (parse_qs(urlsplit(ws.request.path).query).get("stations") or [""])[0]
        requested = [] if stations_param in ("", "*") else [s for s in stations_param.split(",") if s]
        unknown = await self.unknown_stations(requested) if requested else []
        if stations_param == "*":
            self.subscribe(client, "*")
        elif requested:
            self.subscribe(client, [s for s in requested if s not in unknown])
        self.clients.add(client)
        self.counters["clients_connected_total"] += 1
        sender = asyncio.create_task(self.sender(client))
        try:
            hello = {
                "type": "hello",
                "client": client.name,
                "stations": self._describe(client),
                "server_time": datetime.now(UTC).isoformat(),
            }
            if not stations_param:
                # Documented default: no `stations` = subscribed to nothing yet. Said here, not left silent.
                hello["notice"] = (
                    "subscribed to no station: connect with ?stations=A,B or ?stations=*, or send "
                    '{"action": "subscribe", "stations": [...] | "*"}'
                )
            await ws.send(json.dumps(hello))
            if unknown:
                await ws.send(json.dumps(self._unknown_error(unknown)))
            async for raw in ws:
                await self.on_client_message(client, raw)
        except ConnectionClosed:
            pass
        finally:
            self.remove(client)
            client.dropped = True
            client.wake.set()
            sender.cancel()

    @staticmethod
    def _unknown_error(unknown: list[str]) -> dict:
        return {
            "type": "error",
            "error": f"unknown station(s), not subscribed: {', '.join(unknown)}",
            "unknown_stations": unknown,
        }

    @staticmethod
    def _describe(client: Client) -> list[str] | str:
        return "*" if client.everything else sorted(client.stations)

    async def on_client_message(self, client: Client, raw: str | bytes) -> None:
        try:
            request = json.loads(raw)
            action = request["action"]
        except (ValueError, KeyError, TypeError):
            await client.ws.send(json.dumps({"type": "error", "error": "send JSON {action: subscribe|...}"}))
            return
        if (
            action not in SCOPE_ACTIONS.get(client.scope, frozenset())
            and action in SCOPE_ACTIONS[OPERATOR_SCOPE]
        ):
            await client.ws.send(
                json.dumps(
                    {"type": "error", "error": f"{action!r} is not allowed with a {client.scope} ticket"}
                )
            )
            return
        if action in ("subscribe", "unsubscribe"):
            stations = request.get("stations")
            if stations != "*" and not (
                isinstance(stations, list) and all(isinstance(s, str) for s in stations)
            ):
                await client.ws.send(json.dumps({"type": "error", "error": "stations must be a list or '*'"}))
                return
            unknown = (
                await self.unknown_stations(stations) if action == "subscribe" and stations != "*" else []
            )
            if unknown:
                stations = [s for s in stations if s not in unknown]
            (self.subscribe if action == "subscribe" else self.unsubscribe)(client, stations)
            await client.ws.send(json.dumps({"type": "subscribed", "stations": self._describe(client)}))
            if unknown:
                await client.ws.send(json.dumps(self._unknown_error(unknown)))
        elif action == "stations":
            await client.ws.send(json.dumps(self.stations_message(), separators=(",", ":")))
        elif action == "replay":
            await self.replay(client, request)
        else:
            await client.ws.send(json.dumps({"type": "error", "error": f"unknown action {action!r}"}))

    async def serve(self, stop: asyncio.Future | None = None) -> None:
        tasks = [
            asyncio.create_task(self.listener()),
            asyncio.create_task(self.flusher()),
            asyncio.create_task(self.poll_health()),
        ]
        async with serve(
            self.handler,
            self.config.host,
            self.config.port,
            process_request=self.process_request,
            compression=None,
            max_size=65_536,
            ping_interval=20,
            ping_timeout=20,
        ) as server:
            log.info(
                "broadcaster on ws://%s:%d/ (window %.0f ms)",
                self.config.host,
                self.config.port,
                self.config.window_s * 1000,
            )
            try:
                if stop is None:
                    await asyncio.Future()
                else:
                    await stop
            finally:
                server.close()
                for task in tasks:
                    task.cancel()


def run_broadcaster(config: BroadcasterConfig) -> int:
    import signal

    logging.getLogger("websockets.server").setLevel(logging.WARNING)  # not one INFO line per connection

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        await Broadcaster(config).serve(stop)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    return 0


async def _replay_alerts(conn: psycopg.AsyncConnection, scope: dict) -> list[dict]:
    """Alerts changed after `since` (current state), oldest change first, as their live payloads."""
    from purehealth_pipelines.marts.alerts import ALERT_STATE_COLUMNS, alert_state_from_row, notify_payload

    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        f"""SELECT {ALERT_STATE_COLUMNS}
             FROM mart.alerts
            WHERE updated_at > %(since)s AND (%(all)s OR station_id = ANY(%(stations)s))
            ORDER BY updated_at, alert_id
            LIMIT %(limit)s""",
        scope,
    )
    return [
        {**json.loads(notify_payload(alert_state_from_row(row))), "replay": True}
        for row in await cursor.fetchall()
    ]


async def _replay_forecasts(conn: psycopg.AsyncConnection, scope: dict) -> list[dict]:
    """The newest forecast issue per station and parameter, if issued after `since`, as live payloads."""
    import pandas as pd

    from purehealth_pipelines.forecasting.publish import forecast_payloads

    cursor = await conn.execute(
        """SELECT f.station_id, f.parameter, f.issued_at, f.horizon_h, f.ts, f.p10, f.p50, f.p90
             FROM mart.forecasts f
             JOIN (SELECT station_id, parameter, max(issued_at) AS issued_at
                     FROM mart.forecasts
                    WHERE issued_at > %(since)s AND (%(all)s OR station_id = ANY(%(stations)s))
                    GROUP BY station_id, parameter) latest USING (station_id, parameter, issued_at)""",
        scope,
    )
    columns = ["station_id", "parameter", "issued_at", "horizon_h", "ts", "p10", "p50", "p90"]
    frame = pd.DataFrame(await cursor.fetchall(), columns=columns)
    if frame.empty:
        return []
    return [{**json.loads(payload), "replay": True} for payload in forecast_payloads(frame)]
