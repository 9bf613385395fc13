"""`purehealth notify`: the delivery worker that drains ops.alert_outbox.

One delivery = one database transaction:
    BEGIN; claim one due row FOR UPDATE SKIP LOCKED; send it; record the attempt; mark it sent (or schedule
    the retry, or dead-letter it); COMMIT.
The row stays locked while it is sent, so concurrent workers (threads or processes) never send the same
row at once, and "sent" is committed in the same transaction that completes the claim.

The exact guarantee (honest version): every notification committed to the outbox is delivered AT LEAST
ONCE, and AT MOST ONCE except in one window — the worker dies (kill -9, host loss) or loses the database
after the receiver accepted the message but before the COMMIT. Then the transaction rolls back, the row is
pending again, and a restarted worker sends it a second time, with the same idempotency key (header,
Message-ID, JSON field), so receivers that keep the keys they have seen de-duplicate it. The window is one
message per worker thread. An attempt cut short that way leaves no row in ops.alert_delivery_attempts (it
rolled back with its claim).

Failures: a transient one (connection error, HTTP 408/429/5xx, SMTP 4xx) is retried after an exponential
backoff; a permanent one (other HTTP 4xx, SMTP 5xx, missing configuration), or the `max_attempts`-th
failure, puts the row in the dead letters (status 'dead', last_error = the reason). The worker also
escalates unacknowledged criticals and builds digests each poll. A lost database connection (or any other
database error) is retried on a fresh connection after a pause, so the worker outlives a database restart.

Wake-up: the outbox's insert trigger NOTIFYs `purehealth_alert_outbox` at commit and a listener thread
wakes the idle delivery threads, so a notification goes out within milliseconds of its alert's commit
rather than at the next poll. The poll (`--poll-seconds`) remains for what becomes due later (quiet hours,
retry backoff) and as the fallback while the listener reconnects.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from purehealth_pipelines.alerts.channels import DeliveryError, Outgoing, Sender, default_senders
from purehealth_pipelines.alerts.outbox import build_digests, escalate_due
from purehealth_pipelines.alerts.routing import backoff

log = logging.getLogger(__name__)

WAKE_CHANNEL = "purehealth_alert_outbox"  # NOTIFYed by the outbox's insert trigger (migration 1200)
LISTENER_NAME = "purehealth-notify-listen"
RECONNECT_SECONDS = 2.0

CLAIM_SQL = """
SELECT o.notification_id, o.idempotency_key, o.channel, o.address, o.subject, o.body, o.payload, o.attempts,
       s.webhook_secret
FROM ops.alert_outbox o JOIN ops.alert_subscriptions s USING (subscription_id)
WHERE o.status = 'pending' AND o.due_at <= now()
ORDER BY o.due_at, o.notification_id
LIMIT 1
FOR UPDATE OF o SKIP LOCKED
"""


@dataclass(frozen=True)
class WorkerConfig:
    threads: int = 4
    max_attempts: int = 5
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 900.0
    poll_seconds: float = 1.0
    escalate_after: timedelta = timedelta(minutes=30)


def deliver_one(
    conn: psycopg.Connection, senders: dict[str, Sender], config: WorkerConfig, worker: str
) -> bool:
    """Claim, send and complete one due notification in one transaction. False when nothing is due."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(CLAIM_SQL)
        row = cur.fetchone()
        if row is None:
            return False
        message = Outgoing(
            notification_id=row[0],
            idempotency_key=row[1],
            channel=row[2],
            address=row[3],
            subject=row[4],
            body=row[5],
            payload=row[6],
            webhook_secret=row[8],
        )
        attempt = row[7] + 1
        started = datetime.now(UTC)
        error: DeliveryError | None = None
        try:
            senders[message.channel].send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in a sender must not stop the worker: retried, then dead-lettered
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        cur.execute(
            "INSERT INTO ops.alert_delivery_attempts "
            "(notification_id, attempt, worker, started_at, ok, error) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                message.notification_id,
                attempt,
                worker,
                started,
                error is None,
                error.reason if error else None,
            ),
        )
        if error is None:
            cur.execute(
                "UPDATE ops.alert_outbox SET status = 'sent', attempts = %s, sent_at = now(), "
                "last_error = NULL WHERE notification_id = %s",
                (attempt, message.notification_id),
            )
        elif error.permanent or attempt >= config.max_attempts:
            reason = error.reason if error.permanent else f"gave up after {attempt} attempts: {error.reason}"
            cur.execute(
                "UPDATE ops.alert_outbox SET status = 'dead', attempts = %s, last_error = %s "
                "WHERE notification_id = %s",
                (attempt, reason, message.notification_id),
            )
            log.warning("notification %s dead-lettered: %s", message.idempotency_key, reason)
        else:
            delay = backoff(attempt, config.backoff_base_seconds, config.backoff_cap_seconds)
            cur.execute(
                "UPDATE ops.alert_outbox SET attempts = %s, last_error = %s, due_at = now() + %s "
                "WHERE notification_id = %s",
                (attempt, error.reason, delay, message.notification_id),
            )
    return True


def drain(url: str, senders: dict[str, Sender], config: WorkerConfig, *, housekeeping: bool = True) -> int:
    """Deliver everything due now (one thread), after escalations and digests; returns rows handled."""
    handled = 0
    with psycopg.connect(url, autocommit=True, application_name="purehealth-notify") as conn:
        if housekeeping:
            escalate_due(conn, config.escalate_after)
            build_digests(conn)
        while deliver_one(conn, senders, config, _worker_name()):
            handled += 1
    return handled


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}/{threading.current_thread().name}"


class Waker:
    """Wakes idle delivery threads early: set by the NOTIFY listener when notifications are owed.

    A generation counter, not a bare Event: a thread notes the generation before it looks at the outbox and
    sleeps only if nothing was announced since, so a NOTIFY that lands between "found nothing" and "sleep"
    is not lost (the thread would otherwise wait a whole poll interval).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._condition:
            return self._generation

    def wake(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            if self._generation == seen:
                self._condition.wait(timeout)


def _pause(stop: threading.Event, what: str, exc: Exception) -> None:
    """Any database error (restart, network, a failover's read-only moment, a statement error) is logged
    and retried on a fresh connection: the worker must outlive it. The claim of a row in flight rolled back
    with its transaction, so nothing is lost."""
    log.warning("notify %s: database error (%s: %s); reconnecting in %.0f s", what, type(exc).__name__,
                str(exc).strip(), RECONNECT_SECONDS)  # fmt: skip
    stop.wait(RECONNECT_SECONDS)


def _delivery_loop(
    url: str, senders: dict[str, Sender], config: WorkerConfig, stop: threading.Event, waker: Waker
) -> None:
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, application_name="purehealth-notify") as conn:
                while not stop.is_set():
                    seen = waker.generation
                    if not deliver_one(conn, senders, config, _worker_name()):
                        waker.wait(seen, config.poll_seconds)
        except psycopg.Error as exc:
            _pause(stop, "delivery", exc)


def _listen_loop(url: str, stop: threading.Event, waker: Waker) -> None:
    """LISTEN on the outbox's wake-up channel (trigger in migration 1200); every NOTIFY wakes the delivery
    threads. After a reconnect it wakes them once too: what was owed while it was away is sent at once."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, application_name=LISTENER_NAME) as conn:
                conn.execute(f"LISTEN {WAKE_CHANNEL}")
                waker.wake()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        waker.wake()
        except psycopg.Error as exc:
            _pause(stop, "listener", exc)


def run(
    url: str, config: WorkerConfig, stop: threading.Event, senders: dict[str, Sender] | None = None
) -> None:
    """Delivery threads, the NOTIFY listener, and escalation/digest housekeeping until `stop` is set."""
    senders = senders or default_senders()
    waker = Waker()
    threads = [
        threading.Thread(
            target=_delivery_loop,
            args=(url, senders, config, stop, waker),
            name=f"deliver-{i}",
            daemon=True,
        )
        for i in range(config.threads)
    ]
    threads.append(threading.Thread(target=_listen_loop, args=(url, stop, waker), name="listen", daemon=True))
    for thread in threads:
        thread.start()
    log.info("notify: %d delivery threads; escalation after %s", config.threads, config.escalate_after)
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, application_name="purehealth-notify") as conn:
                while not stop.is_set():
                    escalated = escalate_due(conn, config.escalate_after)
                    digests = build_digests(conn)
                    if escalated or digests:
                        log.info("notify: %d alerts escalated, %d digests owed", escalated, digests)
                    stop.wait(config.poll_seconds)
        except psycopg.Error as exc:
            _pause(stop, "housekeeping", exc)
    waker.wake()
    for thread in threads:
        thread.join(timeout=30)
