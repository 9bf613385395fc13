"""What the escalation clock counts from (each tier gets the full delay; a re-opened alert starts over),
and what a message says (what, where, how bad, since when, value against the criterion, station page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from purehealth_pipelines.alerts import outbox as ob
from purehealth_pipelines.alerts.routing import Station, Subscription, Transition, owed_notifications
from purehealth_pipelines_tests.alerts.conftest import outbox, raise_alerts, subscribe

AFTER = timedelta(minutes=30)
START = "2026-02-01T00:00:00Z"


def _alert(conn: psycopg.Connection, alert_id: int = 1) -> tuple:
    return conn.execute(
        "SELECT status, escalation_tier, acknowledged_by, escalation_clock_at FROM mart.alerts "
        "WHERE alert_id = %s",
        (alert_id,),
    ).fetchone()


def test_each_tier_gets_the_full_delay_counted_from_the_previous_escalation(alerts_db) -> None:
    for tier in (1, 2, 3):
        subscribe(alerts_db, f"tier{tier}", email=f"t{tier}@example.org", tier=tier)
    raise_alerts(alerts_db, {("IOT-E1", "do_mg_l"): [3.5, 3.0]}, START)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        # the worker was down for two hours: the alert is 4 delays old, yet it moves up ONE tier ...
        conn.execute("UPDATE mart.alerts SET created_at = now() - interval '2 hours', "
                     "escalation_clock_at = now() - interval '2 hours'")  # fmt: skip
        now = datetime.now(UTC)
        assert ob.escalate_due(conn, AFTER, now) == 1
        assert _alert(conn)[1] == 2 and _alert(conn)[3] == now
        # ... and tier 2 gets its own 30 minutes (counting tiers × delay from the opening would skip it)
        assert ob.escalate_due(conn, AFTER, now + timedelta(minutes=1)) == 0
        assert ob.escalate_due(conn, AFTER, now + timedelta(minutes=29)) == 0
        assert ob.escalate_due(conn, AFTER, now + timedelta(minutes=30)) == 1
        assert _alert(conn)[1] == 3
        notes = conn.execute(
            "SELECT tier, via, note FROM ops.alert_actions WHERE action = 'escalate' ORDER BY tier"
        ).fetchall()
    assert [(tier, via) for tier, via, _ in notes] == [(2, "worker"), (3, "worker")]
    assert notes[0][2].startswith("unacknowledged at tier 1 for 2:00") and "tier 2 for 0:30" in notes[1][2]
    escalations = [(r[0].split(":")[3].split("@")[0], r[7]) for r in outbox(alerts_db, "kind = 'escalated'")]
    assert escalations == [("tier2", 2), ("tier3", 3)]  # each tier told once, by its own subscription


def test_a_reopened_alert_starts_over_unacknowledged_at_tier_one(alerts_db) -> None:
    subscribe(alerts_db, "first", email="first@example.org")
    subscribe(alerts_db, "second", email="second@example.org", tier=2)
    raise_alerts(alerts_db, {("IOT-E2", "do_mg_l"): [3.5, 3.0]}, START)
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        conn.execute("UPDATE mart.alerts SET escalation_clock_at = now() - interval '31 minutes'")
        assert ob.escalate_due(conn, AFTER) == 1
        ob.acknowledge(conn, 1, "asha")
    # recovered readings past the 60-minute cooldown resolve it; a breach within the cooldown re-opens it
    raise_alerts(alerts_db, {("IOT-E2", "do_mg_l"): [4.5] * 6}, "2026-02-01T00:30:00Z")
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        assert _alert(conn)[:3] == ("resolved", 2, "asha")
    before = datetime.now(UTC)
    raise_alerts(alerts_db, {("IOT-E2", "do_mg_l"): [3.2]}, "2026-02-01T02:00:00Z")
    with psycopg.connect(alerts_db, autocommit=True) as conn:
        status, tier, acknowledged_by, clock = _alert(conn)
        assert (status, tier, acknowledged_by) == ("open", 1, None) and clock >= before
        # the earlier acknowledgement does not cover the new episode: it escalates again, after the delay
        assert ob.escalate_due(conn, AFTER) == 0
        assert ob.escalate_due(conn, AFTER, datetime.now(UTC) + AFTER) == 1
    told = [(r[1], r[7]) for r in outbox(alerts_db)]
    # the re-open goes to tier 1 only (a new episode), the resolve to both tiers the episode reached
    assert told == [("opened", 1), ("escalated", 2), ("resolved", 1), ("resolved", 2), ("reopened", 1),
                    ("escalated", 2)]  # fmt: skip


def test_message_says_what_where_how_bad_since_when_value_and_links_the_station_page() -> None:
    t0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    transition = Transition("opened", 42, "IOT-PUNE-MULA-01", "do_mg_l", "do_below_4", "critical", t0,
                            t0 + timedelta(minutes=45), None, 3.1, 2.6, "< 4.0",
                            "DO below 4 mg/l (CPCB classes C/D need DO ≥ 4)")  # fmt: skip
    station = Station("IOT-PUNE-MULA-01", "Mula at Aundh", "Pune", "Krishna")
    sub = Subscription(1, "duty", ("email", "webhook"), email="d@example.org", webhook_url="http://h/x")
    owed = owed_notifications(
        [transition], [sub], {station.station_id: station}, t0, "https://wq.example.org/"
    )
    body, payload = owed[0].body, owed[1].payload
    assert owed[0].subject == "[CRITICAL] ALERT: do_below_4 at Mula at Aundh (IOT-PUNE-MULA-01)"
    assert "What:      DO below 4 mg/l" in body
    assert "Where:     Mula at Aundh, Pune, Krishna (station IOT-PUNE-MULA-01, parameter do_mg_l)" in body
    assert "How bad:   critical; worst value 2.6" in body
    assert "Value:     3.1 against the criterion < 4.0" in body
    assert "Since:     2026-03-01 09:30 IST (last breach 2026-03-01 10:15 IST)" in body
    assert "Station:   https://wq.example.org/#station=IOT-PUNE-MULA-01" in body
    assert payload["link"] == "https://wq.example.org/#station=IOT-PUNE-MULA-01"
    assert (payload["district"], payload["basin"], payload["criterion"]) == ("Pune", "Krishna", "< 4.0")
