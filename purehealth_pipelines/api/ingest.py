"""HTTP ingest for sensors that cannot speak MQTT: the same contract, credential and landing as the bridge.

    POST /ingest/v1/stations/{station_id}/readings        one readings message (the MQTT payload, as is)
    POST /ingest/v1/stations/{station_id}/readings/batch  a JSON array of such messages (≤ MAX_BATCH_MESSAGES)
    Authorization: Bearer <username>:<secret>              the credential `purehealth sensors add` issued

Why it is built on the bridge's own pieces rather than beside them:
- the payload contract has one home, realtime_bridge/validation.py; a message is validated by the same
  `validate_reading` (through `BatchWriter.prepare`), so MQTT and HTTP accept and refuse exactly the same;
- the landing is `BatchWriter.commit`: one transaction (per group of concurrent requests: IngestService
  says why) that COPYs into raw.sensor_messages with the same idempotency key (station_id, ts,
  sensor_id), dead-letters the rejects into ops.dead_letters (source 'http', origin = the request
  path), upserts ops.sensor_health and sends the sealed NOTIFY that the broadcaster pushes to
  dashboards. A 2xx is sent only after COMMIT, and a retried request changes nothing: its messages hit
  the key, and its dead letters are looked up before being recorded again (every HTTP request may be
  the retry of one whose answer was lost, as an MQTT DUP may be);
- the token is checked with devices/credentials.verify_secret against the same hashed row the broker's
  password file is rendered from, inside the landing transaction, so a revoke takes effect at once.

The read API's pool stays read-only (api/db.py). Ingest has its own small pool of BatchWriter sessions on
the ingest login (settings.ingest_database_url), one committer thread each, that `SET ROLE
purehealth_ingest` (migration 1100): append-only on the landing and dead-letter tables. They start and
connect on the first ingest request, so a read-only deployment (or a test of the read API) never opens one.

Test-only hook: PUREHEALTH_INGEST_TEST_PAUSE_AFTER_COMMIT_S=<seconds> makes every request sleep that long
after COMMIT and before answering, so a test can kill -9 the server exactly in that window
(purehealth_pipelines_tests/devices/test_http_ingest.py). Never set it in a deployment.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from purehealth_pipelines import settings
from purehealth_pipelines.devices import credentials, registry
from realtime_bridge.validation import MAX_PAYLOAD_BYTES, Rejection
from realtime_bridge.writer import BatchResult, BatchWriter, Inbound, PreparedBatch

log = logging.getLogger("purehealth_pipelines.api.ingest")

PREFIX = "/ingest/v1"
# The request path is the dead letter's origin: BatchWriter validates "<prefix><station>/readings" exactly as
# the bridge validates a topic, so the HTTP path is used as the "topic" (Catalog.topic_prefix).
HTTP_TOPIC_PREFIX = f"{PREFIX}/stations/"
DEAD_LETTER_SOURCE = "http"
INGEST_ROLE = "purehealth_ingest"
MAX_BATCH_MESSAGES = 1000
MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_GROUP_MESSAGES = 5000  # at most this many messages (about) in one coalesced transaction
MAX_QUEUED_REQUESTS = 2000  # beyond this a request is answered 503 rather than queued
ANSWER_TIMEOUT_S = 60.0
PAUSE_ENV = "PUREHEALTH_INGEST_TEST_PAUSE_AFTER_COMMIT_S"
# Rejections that a stale catalog could explain (a station or parameter added since the session loaded it).
_CATALOG_REASONS = frozenset({"unknown_station", "not_a_live_station", "unknown_parameter"})
CATALOG_MIN_AGE_S = 5.0  # reload at most this often on such rejections (a flood of them must not reload)
_STATUS_OF_REASON = {"payload_too_large": 413, "batch_too_large": 413, "conflicting_duplicate": 409}


@dataclass(frozen=True)
class IngestConfig:
    database_url: str
    pool_size: int = 2
    rate_per_s: float = 5.0
    burst: float = 1000.0
    queue_timeout_s: float = 10.0  # a full queue: wait this long, then 503
    pause_after_commit_s: float = 0.0  # the test-only hook (PAUSE_ENV)
    session_role: str | None = INGEST_ROLE

    @classmethod
    def from_settings(cls) -> IngestConfig:
        return cls(
            database_url=settings.ingest_database_url(),
            pool_size=settings.ingest_pool_size(),
            rate_per_s=settings.ingest_rate_per_s(),
            burst=settings.ingest_burst(),
            pause_after_commit_s=float(os.environ.get(PAUSE_ENV) or 0),
        )


# --- pure pieces ---
class TokenBuckets:
    """One token bucket per sensor credential: `rate` messages/s sustained, `burst` at once.

    A request costing more than is left waits; one costing more than the whole bucket (a batch larger than
    the burst) is admitted when the bucket is full and leaves it in debt, so the long-run rate still holds.
    `now` is passed in (monotonic seconds) so the arithmetic is testable without sleeping.
    """

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst ≥ 1")
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float, now: float) -> float:
        """0.0 and the tokens taken if admitted, else the seconds until it would be (for Retry-After)."""
        with self._lock:
            tokens, at = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            needed = min(cost, self.burst)
            if tokens >= needed:
                self._state[key] = (tokens - cost, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (needed - tokens) / self.rate


def bearer_credential(header: str | None) -> tuple[str, str] | None:
    """(username, secret) from `Authorization: Bearer <username>:<secret>`, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.split_token(token.strip())


def split_batch(body: bytes) -> list[bytes] | Rejection:
    """The messages of a batch body (each re-encoded as its own JSON payload), or why it is not a batch."""
    if len(body) > MAX_BATCH_BYTES:
        return Rejection("batch_too_large", f"body is more than {MAX_BATCH_BYTES} bytes (truncated here)")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Rejection("invalid_json", str(exc)[:200])
    if not isinstance(document, list):
        return Rejection(
            "not_an_array", f"a batch is a JSON array of messages, got {type(document).__name__}"
        )
    if not document:
        return Rejection("empty_batch", "the array holds no message")
    if len(document) > MAX_BATCH_MESSAGES:
        return Rejection("batch_too_large", f"{len(document)} messages > {MAX_BATCH_MESSAGES} per request")
    return [orjson.dumps(item) for item in document]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, **extra: Any) -> Answer:
    headers = {"WWW-Authenticate": 'Bearer realm="purehealth-ingest"'} if status == 401 else {}
    return Answer(status, {"error": message, **extra}, headers)


def _rejected(index: int, rejection: Rejection) -> dict[str, Any]:
    return {"index": index, "reason": rejection.reason, "detail": rejection.detail}


def single_answer(new: int, rejections: list[tuple[int, Rejection]]) -> Answer:
    """201 stored / 200 already stored (a retry) / 4xx with the reason (recorded as a dead letter)."""
    if rejections:
        rejection = rejections[0][1]
        status = _STATUS_OF_REASON.get(rejection.reason, 422)
        return _error(status, rejection.detail, reason=rejection.reason, dead_lettered=True)
    body = {"status": "stored" if new else "duplicate", "messages": 1, "new": new, "duplicates": 1 - new}
    return Answer(201 if new else 200, body)


def batch_answer(new: int, rejections: list[tuple[int, Rejection]], messages: int) -> Answer:
    """200 when every message is stored (new or a retry's duplicate); 422 when some were refused.

    Refused messages are dead-lettered; the accepted ones of the same request ARE committed (the answer says
    how many), so a client drops the refused ones and may resend the whole batch harmlessly.
    """
    accepted = messages - len(rejections)
    body: dict[str, Any] = {
        "messages": messages,
        "accepted": accepted,
        "new": new,
        "duplicates": accepted - new,
        "rejected": [_rejected(i, r) for i, r in sorted(rejections, key=lambda pair: pair[0])],
    }
    if rejections:
        body["error"] = (
            f"{len(rejections)} of {messages} messages refused (dead-lettered); the rest are stored"
        )
        return Answer(422, body)
    return Answer(200, body)


# --- the service: coalescing committers, token check, rate limit, landing ---
class IngestUnavailable(RuntimeError):
    """The warehouse cannot take the request now (queue full or no answer in time)."""


@dataclass(eq=False)
class _Request:
    """One HTTP request waiting for its group's COMMIT; `answer` is set before `done`."""

    station_id: str
    username: str
    secret: str
    body: bytes
    batch: bool
    done: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None
    items: list[Inbound] = field(default_factory=list)  # its messages, in the group's batch


@dataclass
class _Slot:
    writer: BatchWriter
    catalog_at: float = 0.0


_UNAVAILABLE_ERRORS = (psycopg.Error, PermissionError, LookupError)


class IngestService:
    """Coalesces concurrent requests into one transaction per group ("group commit"), one committer thread
    per pooled writer session; `handle` (blocking: run it in a thread) enqueues a request and waits.

    Why coalesce: every request is answered only after a durable COMMIT, and this disk takes a few hundred
    WAL flushes a second (bench/bench_ingest_http.py prints the limit). One request per transaction caps
    single-message ingest there; a committer that takes whatever requests are queued (up to
    MAX_GROUP_MESSAGES) lands them in one transaction, which is what the bridge does with MQTT messages.
    Each request still gets its own answer: its token is checked (one query for the group, inside the
    group's transaction), its rate limit applied, its messages validated and counted separately.
    """

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.buckets = TokenBuckets(config.rate_per_s, config.burst)
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=MAX_QUEUED_REQUESTS)
        self._slots = [
            _Slot(
                BatchWriter(
                    config.database_url,
                    notify=True,
                    topic_prefix=HTTP_TOPIC_PREFIX,
                    dead_letter_source=DEAD_LETTER_SOURCE,
                    session_role=config.session_role,
                    application_name="purehealth-ingest",
                )
            )
            for _ in range(max(1, config.pool_size))
        ]
        self._threads: list[threading.Thread] = []
        self._started = threading.Lock()

    def _start(self) -> None:
        """Committer threads start with the first request (a read-only use of the app never starts them)."""
        with self._started:
            if not self._threads:
                for index, slot in enumerate(self._slots):
                    thread = threading.Thread(
                        target=self._run, args=(slot,), name=f"ingest-committer-{index}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        for slot in self._slots:
            slot.writer.close()

    def handle(self, station_id: str, authorization: str | None, body: bytes, batch: bool) -> Answer:
        credential = bearer_credential(authorization)
        if credential is None:
            return _error(401, "send 'Authorization: Bearer <username>:<secret>' (purehealth sensors add)")
        self._start()
        request = _Request(station_id, credential[0], credential[1], body, batch)
        try:
            self._queue.put(request, timeout=self.config.queue_timeout_s)
        except queue.Full:
            return Answer(503, {"error": "the ingest queue is full; retry shortly"}, {"Retry-After": "1"})
        if not request.done.wait(ANSWER_TIMEOUT_S) or request.answer is None:
            # It may still commit later: a resend is answered as a duplicate, so nothing is doubled.
            return Answer(
                503, {"error": "no answer from the warehouse in time; resend"}, {"Retry-After": "1"}
            )
        if self.config.pause_after_commit_s and request.answer.status < 300:
            time.sleep(self.config.pause_after_commit_s)  # test-only: see the module docstring
        return request.answer

    def _run(self, slot: _Slot) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, messages = [first], 1
            while messages < MAX_GROUP_MESSAGES:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # for this thread's next turn: finish the group first
                    break
                group.append(nxt)
                messages += 1 + len(nxt.body) // 256 if nxt.batch else 1
            try:
                self._serve(slot, group)
            except _UNAVAILABLE_ERRORS as exc:
                log.warning("ingest: warehouse unavailable: %s", exc)
                slot.writer.close()  # reconnect for the next group; nothing of this group was committed
                self._answer_all(group, f"the warehouse is unavailable ({type(exc).__name__}); resend")
            except Exception:
                log.exception("ingest: a group failed")
                slot.writer.close()
                self._answer_all(group, "the ingest failed; nothing was stored; resend")
            finally:
                for request in group:
                    request.done.set()

    @staticmethod
    def _answer_all(group: list[_Request], message: str) -> None:
        """After a failed group: 503 for every request whose answer depended on the COMMIT (all but the
        token and rate-limit refusals, which stand)."""
        for request in group:
            if request.answer is None or request.answer.status not in (401, 403, 429):
                request.answer = Answer(503, {"error": message}, {"Retry-After": "1"})

    def _serve(self, slot: _Slot, group: list[_Request]) -> None:
        writer = slot.writer
        if writer.conn is None:
            writer.connect()
            slot.catalog_at = time.monotonic()
        conn = writer.conn
        assert conn is not None
        devices = registry.active_devices(conn, sorted({r.username for r in group}))
        now_mono = time.monotonic()
        items: list[Inbound] = []
        body_rejects: list[tuple[Inbound, Rejection]] = []
        landing: list[_Request] = []
        for request in group:
            device = devices.get(request.username)
            if device is None or not credentials.verify_secret(request.secret, device.secret_hash):
                request.answer = _error(401, "unknown, wrong or revoked credential")
                continue
            if device.station_id != request.station_id:
                request.answer = _error(
                    403, f"this credential may post to station {device.station_id!r} only"
                )
                continue
            payloads: list[bytes] | Rejection = split_batch(request.body) if request.batch else [request.body]
            cost = len(payloads) if isinstance(payloads, list) else 1
            wait = self.buckets.take(device.username, cost, now_mono)
            if wait:
                limit = f"{self.config.rate_per_s:g} messages/s (burst {self.config.burst:g})"
                retry_after = str(max(1, math.ceil(wait)))
                request.answer = Answer(429, {"error": f"rate limit: {limit}"}, {"Retry-After": retry_after})
                continue
            topic = f"{HTTP_TOPIC_PREFIX}{request.station_id}/readings"
            if isinstance(payloads, Rejection):  # not a batch at all: one dead letter for the body
                body_rejects.append((Inbound(topic, request.body, -1, 1, 0, dup=True), payloads))
                status = _STATUS_OF_REASON.get(payloads.reason, 400)
                request.answer = _error(status, payloads.detail, reason=payloads.reason, dead_lettered=True)
                continue
            # dup=True: any request may be the resend of one whose answer was lost (see the module docstring).
            request.items = [Inbound(topic, payload, i, 1, 0, dup=True) for i, payload in enumerate(payloads)]
            items.extend(request.items)
            landing.append(request)
        if not items and not body_rejects:
            conn.rollback()
            return
        now = datetime.now(UTC)
        prepared = writer.prepare(items, now)
        if (
            any(r.reason in _CATALOG_REASONS for _, r in prepared.dead)
            and time.monotonic() - slot.catalog_at > CATALOG_MIN_AGE_S
        ):
            writer.refresh_catalog()  # commits the token look-up's transaction: nothing was written yet
            slot.catalog_at = time.monotonic()
            prepared = writer.prepare(items, now)
        prepared.dead.extend(body_rejects)
        result = writer.commit(prepared)
        self._split(prepared, result, landing)

    @staticmethod
    def _split(prepared: PreparedBatch, result: BatchResult, landing: list[_Request]) -> None:
        """Each request's own answer from the group's result (Inbound objects identify the messages)."""
        new = set(map(id, prepared.sources)) if result.new_positions is None else {
            id(prepared.sources[pos]) for pos in result.new_positions
        }  # fmt: skip
        refused = {id(item): rejection for item, rejection in prepared.dead}
        refused.update((id(item), _CONFLICT) for item in result.conflicts)
        for request in landing:
            rejections = [(item.mid, refused[id(item)]) for item in request.items if id(item) in refused]
            fresh = sum(1 for item in request.items if id(item) in new)
            request.answer = (
                batch_answer(fresh, rejections, len(request.items))
                if request.batch
                else single_answer(fresh, rejections)
            )


_CONFLICT = Rejection(
    "conflicting_duplicate", "a different message for this station, sensor_id and ts is stored"
)


# --- the ASGI side ---
class IngestResult(BaseModel):
    status: str | None = Field(None, description="single: 'stored' (new) or 'duplicate' (a retry)")
    messages: int
    accepted: int | None = Field(None, description="batch: messages stored or already stored")
    new: int = Field(description="messages new to the warehouse")
    duplicates: int = Field(description="messages already stored (a retried request); nothing changed")
    rejected: list[dict[str, Any]] | None = Field(None, description="batch: index, reason, detail")


class IngestError(BaseModel):
    error: str
    reason: str | None = Field(None, description="the validation code (realtime_bridge/validation.py)")
    dead_lettered: bool | None = Field(None, description="the refused payload is in ops.dead_letters")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": IngestError, "description": "missing, malformed, wrong or revoked token"},
    403: {"model": IngestError, "description": "a valid token of another station"},
    409: {"model": IngestError, "description": "another message with this station, sensor_id and ts exists"},
    413: {"model": IngestError, "description": "payload or batch too large (dead-lettered)"},
    422: {"model": IngestError, "description": "refused by validation (dead-lettered)"},
    429: {"model": IngestError, "description": "per-sensor rate limit; see Retry-After"},
    503: {"model": IngestError, "description": "warehouse unavailable; nothing was stored; retry"},
}


async def _read_body(request: Request, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the body: enough to know it is too large without buffering all of it."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _respond(answer: Answer) -> Response:
    return Response(
        orjson.dumps(answer.body),
        status_code=answer.status,
        media_type="application/json",
        headers=answer.headers,
    )


def mount(app: FastAPI, config: Any = None) -> IngestService:
    """Add the ingest routes to the read API's app; `config.extra["ingest"]` (an IngestConfig) overrides the
    environment (settings.py). The writer pool is closed when the app shuts down."""
    extra = getattr(config, "extra", None) or {}
    service = IngestService(extra.get("ingest") or IngestConfig.from_settings())
    app.state.ingest = service
    router = APIRouter(prefix=PREFIX, tags=["ingest"])
    single_body = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
    batch_body = {"content": {"application/json": {"schema": {"type": "array"}}}, "required": True}

    @router.post(
        "/stations/{station_id}/readings",
        status_code=201,
        response_model=IngestResult,
        responses={200: {"model": IngestResult, "description": "already stored (a retry)"}, **_RESPONSES},
        summary="One readings message (the MQTT payload): 201 stored, 200 already stored",
        openapi_extra={"requestBody": single_body},
    )
    async def post_reading(station_id: str, request: Request) -> Response:
        body = await _read_body(request, MAX_PAYLOAD_BYTES)
        auth = request.headers.get("authorization")
        return _respond(await run_in_threadpool(service.handle, station_id, auth, body, False))

    @router.post(
        "/stations/{station_id}/readings/batch",
        response_model=IngestResult,
        responses=_RESPONSES,
        summary=f"A JSON array of up to {MAX_BATCH_MESSAGES} readings messages, landed in one transaction",
        openapi_extra={"requestBody": batch_body},
    )
    async def post_batch(station_id: str, request: Request) -> Response:
        body = await _read_body(request, MAX_BATCH_BYTES)
        auth = request.headers.get("authorization")
        return _respond(await run_in_threadpool(service.handle, station_id, auth, body, True))

    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        try:
            async with inner(asgi_app) as state:
                yield state
        finally:
            with contextlib.suppress(Exception):
                service.close()

    app.router.lifespan_context = lifespan
    return service
