"""Who is owed which notification, when, and what it says — pure functions, no I/O.

The outbox writer (alerts.outbox) loads subscriptions and stations and calls `owed_notifications` inside
the transaction that changes mart.alerts, so what is owed is decided once, from the transition itself, and
committed (or rolled back) with it. Keeping the rules pure lets tests state them without a database.

Rules:
* a subscription hears of an alert when it is active, its station / district / basin / rule filters match,
  the alert is at least its `min_severity`, and its tier is reached (tier 1 as alerts open; a higher tier
  only when an unacknowledged critical escalates to it; every reached tier hears of the resolve);
* one notification per channel of the subscription that has an address;
* quiet hours (IST wall clock) hold anything but a critical until they end (`due_at`);
* a subscription with `digest_minutes` gets info alerts grouped into one digest (status 'digest');
* the idempotency key names the transition (alert, kind, instant or tier), the subscription and the
  channel, so writing the same transition twice owes nothing new (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from purehealth_pipelines.vocabulary import IST

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
CHANNELS = ("email", "webhook", "sms")
ALERT_KINDS = ("opened", "reopened", "resolved", "escalated")


@dataclass(frozen=True)
class Subscription:
    subscription_id: int
    name: str
    channels: tuple[str, ...]
    email: str | None = None
    webhook_url: str | None = None
    sms_number: str | None = None
    stations: tuple[str, ...] | None = None
    district: str | None = None
    basin: str | None = None
    rules: tuple[str, ...] | None = None
    min_severity: str = "warning"
    quiet_start: time | None = None
    quiet_end: time | None = None
    digest_minutes: int | None = None
    tier: int = 1
    operators: bool = False
    active: bool = True

    def address(self, channel: str) -> str | None:
        return {"email": self.email, "webhook": self.webhook_url, "sms": self.sms_number}[channel]


@dataclass(frozen=True)
class Station:
    station_id: str
    name: str | None = None
    district: str | None = None
    basin: str | None = None


@dataclass(frozen=True)
class Transition:
    """One change of one alert that people may be owed a notification of."""

    kind: str  # opened | reopened | resolved | escalated
    alert_id: int
    station_id: str
    parameter: str
    rule: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    last_value: float | None
    worst_value: float | None
    threshold: str | None
    message: str
    tier: int = 1  # the alert's escalation tier after the transition
    actor: str | None = None  # who resolved it by hand, if someone did

    @property
    def identity(self) -> str:
        """What makes this transition unique for its alert (part of the idempotency key)."""
        if self.kind == "escalated":
            return f"tier{self.tier}"
        at = {"opened": self.first_seen, "reopened": self.last_seen}.get(self.kind, self.resolved_at)
        return _iso(at) if at is not None else "-"


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    asset_keys: tuple[str, ...]
    partition: str | None
    message: str
    failed_at: datetime


@dataclass(frozen=True)
class Notification:
    idempotency_key: str
    subscription_id: int
    channel: str
    address: str
    kind: str
    severity: str
    subject: str
    body: str
    payload: dict[str, Any]
    due_at: datetime
    status: str = "pending"  # pending | digest
    alert_id: int | None = None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _ist(value: datetime | None) -> str:
    return value.astimezone(IST).strftime("%Y-%m-%d %H:%M IST") if value is not None else "-"


def _num(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def release_time(start: time | None, end: time | None, now: datetime) -> datetime:
    """When a non-critical notification owed at `now` may go out: `now`, or the end of quiet hours (IST).

    Quiet hours are a wall-clock window in IST; `end` earlier than `start` spans midnight (22:00–07:00).
    """
    if start is None or end is None or start == end:
        return now
    local = now.astimezone(IST)
    t = local.timetz().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return now
    release = local.replace(hour=end.hour, minute=end.minute, second=end.second, microsecond=0)
    if release <= local:
        release += timedelta(days=1)
    return release.astimezone(UTC)


def matches(sub: Subscription, transition: Transition, station: Station | None) -> bool:
    """Does this subscription hear of this transition (filters, severity, tier)?"""
    if not sub.active or SEVERITY_RANK[transition.severity] < SEVERITY_RANK[sub.min_severity]:
        return False
    if transition.kind == "escalated":
        if sub.tier != transition.tier:
            return False
    elif sub.tier > transition.tier:
        return False
    if sub.stations is not None and transition.station_id not in sub.stations:
        return False
    if sub.rules is not None and transition.rule not in sub.rules:
        return False
    if sub.district is not None and (station is None or station.district != sub.district):
        return False
    return not (sub.basin is not None and (station is None or station.basin != sub.basin))


def render_alert(
    transition: Transition, station: Station | None, dashboard_url: str
) -> tuple[str, str, dict]:
    """(subject, plain-text body, webhook JSON): what, where, how bad, since when, value vs criterion."""
    t = transition
    name = station.name if station is not None and station.name else t.station_id
    where = ", ".join(
        p for p in (name, station.district if station else None, station.basin if station else None) if p
    )
    headline = {
        "opened": "ALERT",
        "reopened": "ALERT again",
        "resolved": "RESOLVED",
        "escalated": f"ESCALATED (tier {t.tier}, unacknowledged)",
    }[t.kind]
    subject = f"[{t.severity.upper()}] {headline}: {t.rule} at {name} ({t.station_id})"
    base = dashboard_url.rstrip("/")
    station_link = f"{base}/api/stations/{t.station_id}"
    lines = [
        subject,
        "",
        f"What:      {t.message}",
        f"Where:     {where} (station {t.station_id}, parameter {t.parameter})",
        f"How bad:   {t.severity}; worst value {_num(t.worst_value)}",
        f"Value:     {_num(t.last_value)} against the criterion {t.threshold or '-'}",
        f"Since:     {_ist(t.first_seen)} (last breach {_ist(t.last_seen)})",
    ]
    if t.resolved_at is not None:
        by = f" by {t.actor}" if t.actor else ""
        lines.append(f"Resolved:  {_ist(t.resolved_at)}{by}")
    lines += [f"Alert:     #{t.alert_id}", f"Dashboard: {base}/", f"Station:   {station_link}"]
    payload = {
        "type": "alert",
        "kind": t.kind,
        "alert_id": t.alert_id,
        "station_id": t.station_id,
        "station_name": name,
        "district": station.district if station else None,
        "basin": station.basin if station else None,
        "parameter": t.parameter,
        "rule": t.rule,
        "severity": t.severity,
        "tier": t.tier,
        "first_seen": _iso(t.first_seen),
        "last_seen": _iso(t.last_seen),
        "resolved_at": _iso(t.resolved_at) if t.resolved_at is not None else None,
        "last_value": None if _num(t.last_value) == "-" else t.last_value,
        "worst_value": None if _num(t.worst_value) == "-" else t.worst_value,
        "criterion": t.threshold,
        "message": t.message,
        "link": station_link,
    }
    return subject, "\n".join(lines), payload


def owed_notifications(
    transitions: Iterable[Transition],
    subscriptions: Iterable[Subscription],
    stations: Mapping[str, Station],
    now: datetime,
    dashboard_url: str,
) -> list[Notification]:
    """Every notification the transitions owe, one per (transition, subscription, channel with address)."""
    subscriptions = list(subscriptions)
    owed: list[Notification] = []
    for t in transitions:
        station = stations.get(t.station_id)
        rendered: tuple[str, str, dict] | None = None
        for sub in subscriptions:
            if not matches(sub, t, station):
                continue
            rendered = rendered or render_alert(t, station, dashboard_url)
            subject, body, payload = rendered
            digest = sub.digest_minutes is not None and t.severity == "info"
            due = now if t.severity == "critical" else release_time(sub.quiet_start, sub.quiet_end, now)
            for channel in sub.channels:
                address = sub.address(channel)
                if not address:
                    continue
                key = f"alert:{t.alert_id}:{t.kind}:{t.identity}:sub{sub.subscription_id}:{channel}"
                owed.append(
                    Notification(
                        idempotency_key=key,
                        subscription_id=sub.subscription_id,
                        channel=channel,
                        address=address,
                        kind=t.kind,
                        severity=t.severity,
                        subject=subject,
                        body=body,
                        payload={**payload, "idempotency_key": key},
                        due_at=due,
                        status="digest" if digest else "pending",
                        alert_id=t.alert_id,
                    )
                )
    return owed


def run_failure_notifications(
    failure: RunFailure, subscriptions: Iterable[Subscription], now: datetime, dagster_url: str
) -> list[Notification]:
    """A failed run owes every active operators' subscription a critical notification on each channel."""
    what = ", ".join(failure.asset_keys) or failure.job_name
    subject = f"[CRITICAL] Dagster run failed: {what}"
    link = f"{dagster_url.rstrip('/')}/runs/{failure.run_id}"
    body = "\n".join(
        [
            subject,
            "",
            f"What:      run {failure.run_id} of job {failure.job_name} failed",
            f"Where:     assets {what}; partition {failure.partition or '-'}",
            f"Error:     {failure.message[:1500]}",
            f"Since:     {_ist(failure.failed_at)}",
            f"Run:       {link}",
        ]
    )
    payload = {
        "type": "run_failure",
        "kind": "run_failed",
        "run_id": failure.run_id,
        "job_name": failure.job_name,
        "asset_keys": list(failure.asset_keys),
        "partition": failure.partition,
        "message": failure.message[:1500],
        "failed_at": _iso(failure.failed_at),
        "link": link,
    }
    owed = []
    for sub in subscriptions:
        if not (sub.active and sub.operators):
            continue
        for channel in sub.channels:
            address = sub.address(channel)
            if not address:
                continue
            key = f"run:{failure.run_id}:sub{sub.subscription_id}:{channel}"
            owed.append(
                Notification(
                    idempotency_key=key,
                    subscription_id=sub.subscription_id,
                    channel=channel,
                    address=address,
                    kind="run_failed",
                    severity="critical",
                    subject=subject,
                    body=body,
                    payload={**payload, "idempotency_key": key},
                    due_at=now,
                    run_id=failure.run_id,
                )
            )
    return owed


def render_digest(subscription_name: str, items: list[tuple[str, dict]]) -> tuple[str, str, dict]:
    """One digest message from (subject, webhook payload) of the grouped notifications."""
    subject = f"[DIGEST] {len(items)} low-severity alert notification(s) for {subscription_name}"
    lines = [subject, ""] + [f"- {item_subject}" for item_subject, _ in items]
    payload = {"type": "digest", "kind": "digest", "count": len(items), "items": [p for _, p in items]}
    return subject, "\n".join(lines), payload


def sms_text(subject: str, payload: Mapping[str, Any]) -> str:
    """An SMS is one short line: the subject, the value against the criterion, and the link."""
    value = payload.get("last_value")
    parts = [subject]
    if value is not None:
        parts.append(f"value {_num(value)} vs {payload.get('criterion')}")
    if payload.get("link"):
        parts.append(str(payload["link"]))
    return " | ".join(parts)[:600]


def backoff(attempts: int, base_seconds: float, cap_seconds: float) -> timedelta:
    """Delay before retry number `attempts` (1, 2, …): base · 2^(attempts-1), capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))
