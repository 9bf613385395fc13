"""The worker across a PostgreSQL restart: notifications delivered before it, owed before but due only after
it (quiet hours ending mid-restart), and owed after it all reach the SMTP server exactly once, and the worker
process — delivery threads, housekeeping and its NOTIFY listener — reconnects by itself.

It restarts the shared PostgreSQL cluster (a few seconds): run it only a few times."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest

from purehealth_pipelines.alerts.routing import IST
from purehealth_pipelines.alerts.worker import LISTENER_NAME
from purehealth_pipelines_tests.alerts.conftest import outbox, raise_alerts, subscribe
from purehealth_pipelines_tests.alerts.test_worker_process import _worker
from purehealth_pipelines_tests.live.helpers import ensure_postgres, restart_postgres, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _scalar(url: str, query: str):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchone()[0]


def test_worker_outlives_a_postgres_restart_and_delivers_each_notification_once(alerts_db, smtp) -> None:
    sink, port = smtp
    subscribe(alerts_db, "ops", email="ops@example.org", min_severity="warning")

    def received() -> list[str]:
        return [m["X-PureHealth-Idempotency-Key"] for m in list(sink.messages)]

    def keys(where: str) -> set[str]:
        return {row[0] for row in outbox(alerts_db, where)}

    worker = _worker(alerts_db, port)
    try:
        # 1. owed and delivered before the restart
        raise_alerts(alerts_db, {(f"IOT-R{i}", "do_mg_l"): [3.5, 3.0] for i in range(5)}, "2026-02-01")
        before = keys("true")
        wait_for(lambda: set(received()) >= before, 30, what="the first alerts delivered")
        # 2. owed before the restart, held by quiet hours that end in the middle of it (warnings wait)
        now_ist = datetime.now(IST)
        with psycopg.connect(alerts_db, autocommit=True) as conn:
            conn.execute(
                "UPDATE ops.alert_subscriptions SET quiet_start = %s, quiet_end = %s",
                ((now_ist - timedelta(hours=1)).time(), (now_ist + timedelta(seconds=12)).time()),
            )
        raise_alerts(alerts_db, {(f"IOT-Q{i}", "ph"): [9.0, 9.1] for i in range(5)}, "2026-02-01")
        held = keys("true") - before
        assert len(held) == 5 and keys("status = 'pending' AND due_at > now()") == held
        restart_began = _scalar(alerts_db, "SELECT now()")
        restart_postgres()
        ensure_postgres(alerts_db)
        # 3. owed after the restart
        raise_alerts(alerts_db, {(f"IOT-A{i}", "do_mg_l"): [3.5, 3.0] for i in range(5)}, "2026-02-01")
        owed = keys("true")
        assert len(owed) == 15
        wait_for(lambda: not keys("status <> 'sent'"), 60, what="every notification sent")
        wait_for(lambda: set(received()) >= owed, 10, what="every email received")
        assert worker.poll() is None, "the worker exited"
        # the listener is back too (its last statement is the LISTEN)
        listening = _scalar(
            alerts_db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            f"AND application_name = '{LISTENER_NAME}'",
        )
        assert listening == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        ensure_postgres(alerts_db)
    counts = Counter(received())
    assert set(counts) == owed and set(counts.values()) == {1}, counts.most_common(3)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        attempts = conn.execute("SELECT count(*) FROM ops.alert_delivery_attempts WHERE ok").fetchone()[0]
        held_sent = conn.execute(
            "SELECT min(sent_at) FROM ops.alert_outbox WHERE idempotency_key = ANY(%s)", (sorted(held),)
        ).fetchone()[0]
    assert attempts == len(owed)
    assert held_sent > restart_began  # the held ones really were still owed when the database went down
