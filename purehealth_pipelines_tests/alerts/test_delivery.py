"""Delivery end to end against real local receivers (aiosmtpd SMTP, an HTTP receiver, a Twilio fake)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from purehealth_pipelines.alerts import outbox as ob
from purehealth_pipelines.alerts.channels import (
    EmailSender,
    SmtpConfig,
    TwilioConfig,
    TwilioSmsSender,
    WebhookSender,
    sign,
)
from purehealth_pipelines.alerts.worker import WorkerConfig, drain
from purehealth_pipelines_tests.alerts.conftest import outbox, raise_alerts, subscribe

START = "2026-02-01T00:00:00Z"
DO_LOW = {("IOT-A1", "do_mg_l"): [3.5, 3.0]}  # critical: DO below 4 (no jump: steps < 2)
CONFIG = WorkerConfig(max_attempts=3, backoff_base_seconds=0.0, backoff_cap_seconds=0.0)


@pytest.fixture
def senders(smtp, receiver):
    _, port = smtp
    client = httpx.Client(timeout=5)
    yield {
        "email": EmailSender(SmtpConfig(port=port)),
        "webhook": WebhookSender(client),
        "sms": TwilioSmsSender(client, TwilioConfig("AC123", "token", "+15550001", api_base=receiver.url)),
    }
    client.close()


def test_opened_alert_one_email_and_one_webhook_per_subscriber_then_resolve(
    alerts_db, smtp, receiver, senders
) -> None:
    sink, _ = smtp
    for name in ("ops-a", "ops-b"):
        subscribe(alerts_db, name, channels=["email", "webhook"], email=f"{name}@example.org",
                  webhook_url=f"{receiver.url}/ok", webhook_secret=f"secret-{name}")  # fmt: skip
    assert raise_alerts(alerts_db, DO_LOW, START) == (1, 0)
    assert drain(alerts_db, senders, CONFIG) == 4
    assert sorted(m["To"] for m in sink.messages) == ["ops-a@example.org", "ops-b@example.org"]
    mail = sink.messages[0]
    text = mail.get_content() if hasattr(mail, "get_content") else mail.get_payload()
    assert "[CRITICAL] ALERT: do_below_4 at IOT-A1" in mail["Subject"]
    assert "3 against the criterion < 4" in text and "/api/stations/IOT-A1" in text
    assert mail["X-PureHealth-Idempotency-Key"].startswith("alert:1:opened:")
    hooks = receiver.on("/ok")
    assert len(hooks) == 2
    for hook in hooks:
        body = json.loads(hook.body)
        secret = f"secret-{'ops-a' if body['idempotency_key'].endswith('sub1:webhook') else 'ops-b'}"
        assert hook.headers["X-PureHealth-Signature"] == sign(
            secret, hook.headers["X-PureHealth-Timestamp"], hook.body
        )
        assert body["kind"] == "opened" and body["last_value"] == 3.0 and body["criterion"] == "< 4"
    # the same readings again: nothing changes, nothing more is owed or sent
    assert raise_alerts(alerts_db, DO_LOW, START) == (0, 0)
    assert drain(alerts_db, senders, CONFIG) == 0
    # recovery after the cooldown -> exactly one resolve message per subscriber and channel
    raise_alerts(alerts_db, {("IOT-A1", "do_mg_l"): [4.5] * 8}, "2026-02-01T01:00:00Z")
    assert drain(alerts_db, senders, CONFIG) == 4
    resolved = [m for m in sink.messages if "RESOLVED" in m["Subject"]]
    assert len(resolved) == 2 and len(receiver.on("/ok")) == 4
    assert {row[3] for row in outbox(alerts_db)} == {"sent"}


def test_quiet_hours_hold_a_warning_and_let_a_critical_through(alerts_db, smtp, senders) -> None:
    sink, _ = smtp
    now_ist = datetime.now(ZoneInfo("Asia/Kolkata"))
    start, end = (now_ist - timedelta(hours=1)).time(), (now_ist + timedelta(hours=1)).time()
    subscribe(alerts_db, "night", email="night@example.org", quiet_start=start, quiet_end=end)
    raise_alerts(alerts_db, {**DO_LOW, ("IOT-B1", "ph"): [8.7, 8.9]}, START)
    assert drain(alerts_db, senders, CONFIG) == 1
    assert len(sink.messages) == 1 and "[CRITICAL]" in sink.messages[0]["Subject"]
    held = outbox(alerts_db, "status = 'pending'")
    assert len(held) == 1 and held[0][0].startswith("alert:2:opened")
    assert abs(held[0][6] - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=2)


def test_digest_groups_low_severity_alerts(alerts_db, smtp, senders) -> None:
    sink, _ = smtp
    subscribe(alerts_db, "digest", email="digest@example.org", digest_minutes=30)
    ec = {(f"IOT-D{i}", "ec_us_cm"): [2400.0, 2500.0] for i in range(3)}  # info: EC above 2250
    raise_alerts(alerts_db, ec, START)
    assert drain(alerts_db, senders, CONFIG) == 0  # waiting for the digest window
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        assert ob.build_digests(conn) == 0
        conn.execute("UPDATE ops.alert_outbox SET created_at = created_at - interval '31 minutes'")
        assert ob.build_digests(conn) == 1
    assert drain(alerts_db, senders, CONFIG) == 1
    assert len(sink.messages) == 1
    body = sink.messages[0].get_payload()
    assert "3 low-severity" in sink.messages[0]["Subject"]
    assert all(f"IOT-D{i}" in body for i in range(3))
    assert [r[3] for r in outbox(alerts_db)].count("digested") == 3


def test_500_is_retried_and_a_receiver_that_keeps_failing_ends_in_the_dead_letters(
    alerts_db, receiver, senders
) -> None:
    for path in ("flaky", "down", "bad"):
        subscribe(alerts_db, path, channels=["webhook"], webhook_url=f"{receiver.url}/{path}",
                  webhook_secret="s")  # fmt: skip
    raise_alerts(alerts_db, DO_LOW, START)
    drain(alerts_db, senders, CONFIG)
    rows = {r[0].rsplit(":", 2)[1]: r for r in outbox(alerts_db)}
    assert rows["sub1"][3:5] == ("sent", 3)  # 500, 500, 200
    assert rows["sub2"][3:5] == ("dead", 3) and rows["sub2"][5].startswith(
        "gave up after 3 attempts: HTTP 500"
    )
    assert rows["sub3"][3:5] == ("dead", 1) and rows["sub3"][5].startswith("HTTP 400")  # permanent: no retry
    assert (len(receiver.on("/flaky")), len(receiver.on("/down")), len(receiver.on("/bad"))) == (3, 3, 1)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        dead = conn.execute(
            "SELECT subscription_id, reason FROM ops.alert_dead_letters ORDER BY 1"
        ).fetchall()
        attempts = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE ok) FROM ops.alert_delivery_attempts"
        )
        assert [d[0] for d in dead] == [2, 3] and attempts.fetchone() == (7, 1)


def test_sms_goes_out_in_twilios_request_format(alerts_db, receiver, senders) -> None:
    subscribe(alerts_db, "phone", channels=["sms"], sms_number="+919800000001")
    raise_alerts(alerts_db, DO_LOW, START)
    assert drain(alerts_db, senders, CONFIG) == 1
    (request,) = receiver.on("/2010-04-01/Accounts/AC123/Messages.json")
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["To"] == "+919800000001" and form["From"] == "+15550001"
    assert "do_below_4" in form["Body"] and "value 3 vs < 4" in form["Body"]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:token").decode()


def test_unacknowledged_critical_escalates_and_an_acknowledged_one_does_not(alerts_db, smtp, senders) -> None:
    sink, _ = smtp
    subscribe(alerts_db, "first", email="first@example.org")
    subscribe(alerts_db, "second", email="second@example.org", tier=2)
    raise_alerts(alerts_db, {**DO_LOW, ("IOT-A2", "do_mg_l"): [3.0, 2.9]}, START)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        assert ob.acknowledge(conn, 2, "asha", "on my way")
        assert ob.escalate_due(conn, timedelta(minutes=30)) == 0  # not yet
        conn.execute("UPDATE mart.alerts SET created_at = created_at - interval '31 minutes'")
        assert ob.escalate_due(conn, timedelta(minutes=30)) == 1  # alert 1 only: alert 2 was acknowledged
        assert ob.escalate_due(conn, timedelta(minutes=30)) == 0  # tier 2 is the top tier
        actions = conn.execute("SELECT alert_id, action, actor, tier FROM ops.alert_actions ORDER BY 1, 2")
        assert actions.fetchall() == [(1, "escalate", "escalation", 2), (2, "ack", "asha", None)]
    drain(alerts_db, senders, CONFIG, housekeeping=False)
    to_second = [m for m in sink.messages if m["To"] == "second@example.org"]
    assert (
        len(to_second) == 1
        and "ESCALATED (tier 2" in to_second[0]["Subject"]
        and "#1" in to_second[0].get_payload()
    )
    assert len([m for m in sink.messages if m["To"] == "first@example.org"]) == 2


def test_failed_run_notifies_the_operators_once(alerts_db, smtp, senders) -> None:
    sink, _ = smtp
    subscribe(alerts_db, "operators", email="oncall@example.org", operators=True, min_severity="critical")
    subscribe(alerts_db, "analysts", email="analysts@example.org")
    values = {"run_id": "run-1", "attempt": 0, "job_name": "marts", "asset_keys": ["mart/alerts"],
              "partition": "2026-02-01", "message": "mart_alerts: boom"}  # fmt: skip
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        assert ob.record_run_failure(conn, values) == 1
        assert ob.record_run_failure(conn, values) == 0  # a sensor re-tick owes nothing more
    drain(alerts_db, senders, CONFIG)
    (mail,) = sink.messages
    assert mail["To"] == "oncall@example.org" and "Dagster run failed: mart/alerts" in mail["Subject"]
    assert "mart_alerts: boom" in mail.get_payload() and "/runs/run-1" in mail.get_payload()
