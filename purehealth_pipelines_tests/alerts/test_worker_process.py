"""The worker as a process: kill -9 mid-delivery, restart, every owed notification reaches the receivers;
and the CLI for subscriptions, ack / assign / resolve with its audit trail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg

from purehealth_pipelines.cli import main
from purehealth_pipelines_tests.alerts.conftest import outbox, raise_alerts, subscribe

ALERTS = 20


def _worker(url: str, smtp_port: int) -> subprocess.Popen:
    env = {**os.environ, "PUREHEALTH_SMTP_PORT": str(smtp_port), "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "purehealth_pipelines.cli", "notify", "--url", url, "--threads", "2",
           "--poll-seconds", "0.2", "--backoff-seconds", "0.2"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_with_sigkill_mid_delivery_then_restarted_delivers_each_notification(
    alerts_db, smtp, receiver
) -> None:
    sink, port = smtp
    subscribe(alerts_db, "ops", channels=["email", "webhook"], email="ops@example.org",
              webhook_url=f"{receiver.url}/slow", webhook_secret="s")  # fmt: skip
    raise_alerts(alerts_db, {(f"IOT-K{i:02d}", "do_mg_l"): [3.5, 3.0] for i in range(ALERTS)}, "2026-02-01")
    owed = {row[0] for row in outbox(alerts_db)}
    assert len(owed) == 2 * ALERTS

    def received() -> list[str]:
        keys = [m["X-PureHealth-Idempotency-Key"] for m in list(sink.messages)]
        return keys + [r.headers["X-PureHealth-Idempotency-Key"] for r in receiver.on("/slow")]

    first = _worker(alerts_db, port)
    try:
        assert _wait(lambda: len(received()) >= 10, 60), "the worker delivered nothing"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert outbox(alerts_db, "status = 'pending'"), "killed too late: nothing left to deliver"
    second = _worker(alerts_db, port)
    try:
        assert _wait(lambda: not outbox(alerts_db, "status <> 'sent'"), 90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    keys = received()
    counts = Counter(keys)
    assert set(counts) == owed  # every owed notification arrived ...
    duplicates = sum(c - 1 for c in counts.values())
    # ... once, except at most one in flight per killed worker thread (same key: receivers de-duplicate)
    assert duplicates <= 2, counts.most_common(3)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        ok = conn.execute("SELECT count(*) FROM ops.alert_delivery_attempts WHERE ok").fetchone()[0]
    assert ok == len(owed)  # one committed successful attempt per notification


def test_cli_subscribe_list_ack_assign_resolve_with_audit(alerts_db, capsys) -> None:
    url = ["--url", alerts_db]
    assert main(["alerts", "subscribe", "duty", "--email", "duty@example.org", "--quiet", "22:00-07:00",
                 "--min-severity", "critical", *url]) == 0  # fmt: skip
    assert main(["alerts", "subscribe", "gone", "--webhook", "http://127.0.0.1:9/x", *url]) == 0
    assert "webhook secret" in capsys.readouterr().out
    assert main(["alerts", "unsubscribe", "gone", *url]) == 0
    assert "gone: unsubscribed" in capsys.readouterr().out
    main(["alerts", "list", *url])
    listing = capsys.readouterr().out
    assert "duty" in listing and "quiet 22:00-07:00 IST" in listing and "gone" not in listing
    raise_alerts(alerts_db, {("IOT-C1", "do_mg_l"): [3.5, 3.0]}, "2026-02-01")
    assert main(["alerts", "ack", "1", "--by", "asha", *url]) == 0
    assert main(["alerts", "assign", "1", "--to", "ravi", "--by", "asha", *url]) == 0
    assert main(["alerts", "resolve", "1", "--by", "ravi", "--note", "aerator fixed", *url]) == 0
    assert "1 notification(s) owed" in capsys.readouterr().out
    assert main(["alerts", "resolve", "1", *url]) == 1  # not open any more
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        alert = conn.execute(
            "SELECT status, acknowledged_by, assigned_to FROM mart.alerts WHERE alert_id = 1"
        ).fetchone()
        audit = conn.execute("SELECT action, actor, assignee, note FROM ops.alert_actions ORDER BY action_id")
        assert alert == ("resolved", "asha", "ravi")
        assert audit.fetchall() == [
            ("ack", "asha", None, None),
            ("assign", "asha", "ravi", None),
            ("resolve", "ravi", None, "aerator fixed"),
        ]
    kinds = [(r[1], r[7]) for r in outbox(alerts_db)]
    assert kinds == [("opened", 1), ("resolved", 1)]
