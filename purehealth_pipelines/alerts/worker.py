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
escalates unacknowledged criticals and builds digests each poll. A lost database connection is retried
with a pause, so the worker outlives a database restart.
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


def _delivery_loop(url: str, senders: dict[str, Sender], config: WorkerConfig, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, application_name="purehealth-notify") as conn:
                while not stop.is_set():
                    if not deliver_one(conn, senders, config, _worker_name()):
                        stop.wait(config.poll_seconds)
        except psycopg.OperationalError as exc:  # database restart or network: reconnect after a pause
            log.warning("notify: database unavailable (%s); retrying in 2 s", exc)
            stop.wait(2.0)


def run(
    url: str, config: WorkerConfig, stop: threading.Event, senders: dict[str, Sender] | None = None
) -> None:
    """Delivery threads + escalation/digest housekeeping until `stop` is set."""
    senders = senders or default_senders()
    threads = [
        threading.Thread(
            target=_delivery_loop, args=(url, senders, config, stop), name=f"deliver-{i}", daemon=True
        )
        for i in range(config.threads)
    ]
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
        except psycopg.OperationalError as exc:
            log.warning("notify: database unavailable (%s); retrying in 2 s", exc)
            stop.wait(2.0)
    for thread in threads:
        thread.join(timeout=30)
