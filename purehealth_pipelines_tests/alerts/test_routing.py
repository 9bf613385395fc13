"""Who is owed what (pure rules): quiet hours across midnight, filters, tiers, keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from purehealth_pipelines.alerts.routing import (
    Station,
    Subscription,
    Transition,
    backoff,
    owed_notifications,
    release_time,
)

T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # 23:30 IST


def _transition(kind: str = "opened", severity: str = "warning", tier: int = 1) -> Transition:
    return Transition(kind, 7, "S1", "ph", "ph_outside_6_5_8_5", severity, T0, T0, None, 9.1, 9.4,
                      "outside 6.5–8.5", "S1 ph: pH outside", tier)  # fmt: skip


def test_quiet_hours_span_midnight_in_ist() -> None:
    release = release_time(time(22, 0), time(7, 0), T0)  # 23:30 IST -> 07:00 IST next day = 01:30 UTC
    assert release == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert release_time(time(22, 0), time(7, 0), T0 - timedelta(hours=2)) == T0 - timedelta(hours=2)
    assert release_time(None, None, T0) == T0


def test_filters_severity_and_tiers() -> None:
    stations = {"S1": Station("S1", "Karad", "Satara", "Krishna")}
    subs = [
        Subscription(1, "satara", ("email", "sms"), email="a@x", sms_number="+911", district="Satara"),
        Subscription(2, "pune", ("email",), email="b@x", district="Pune"),
        Subscription(3, "critical-only", ("email",), email="c@x", min_severity="critical"),
        Subscription(4, "tier2", ("email",), email="d@x", tier=2),
        Subscription(5, "webhook-no-url", ("webhook",)),
    ]
    owed = owed_notifications([_transition()], subs, stations, T0, "http://dash")
    assert [(n.subscription_id, n.channel) for n in owed] == [(1, "email"), (1, "sms")]
    assert len({n.idempotency_key for n in owed}) == 2
    assert (
        "Karad, Satara, Krishna" in owed[0].body
        and "9.1 against the criterion outside 6.5–8.5" in owed[0].body
    )
    escalated = owed_notifications([_transition("escalated", "critical", 2)], subs, stations, T0, "http://d")
    assert [n.subscription_id for n in escalated] == [4]
    resolved = owed_notifications([_transition("resolved", "critical", 2)], subs, stations, T0, "http://d")
    assert sorted({n.subscription_id for n in resolved}) == [1, 3, 4]
    # a re-open is a new episode: tier 1 only, whatever tier the last episode reached
    reopened = owed_notifications([_transition("reopened", "critical", 2)], subs, stations, T0, "http://d")
    assert sorted({n.subscription_id for n in reopened}) == [1, 3] and reopened[0].payload["tier"] == 1
    # escalating to tier 2 in two episodes owes two notifications (keys name the instant)
    episodes = [replace(_transition("escalated", "critical", 2), escalated_at=T0 + timedelta(hours=h))
                for h in (0, 5)]  # fmt: skip
    keys = {n.idempotency_key for n in owed_notifications(episodes, subs, stations, T0, "http://d")}
    assert len(keys) == 2


def test_quiet_hours_hold_warnings_not_criticals_and_info_goes_to_digest() -> None:
    sub = Subscription(1, "night", ("email",), email="a@x", min_severity="info", quiet_start=time(22, 0),
                       quiet_end=time(7, 0), digest_minutes=60)  # fmt: skip
    warning, critical, info = (
        owed_notifications([_transition(severity=s)], [sub], {}, T0, "http://d")[0]
        for s in ("warning", "critical", "info")
    )
    assert warning.due_at == datetime(2026, 3, 2, 1, 30, tzinfo=UTC) and warning.status == "pending"
    assert critical.due_at == T0
    assert info.status == "digest"


def test_backoff_doubles_and_caps() -> None:
    assert [backoff(n, 5, 30).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 30]
