"""The transactional outbox's database side: writing owed notifications, escalation, digests, actions.

Every function that changes an alert writes the notifications it owes in the *same* transaction (the
caller's cursor, or a transaction opened here), so a notification exists if and only if its transition was
committed. Who is owed what is decided by the pure functions in alerts.routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

import psycopg
from psycopg.types.json import Jsonb

from purehealth_pipelines import settings
from purehealth_pipelines.alerts.routing import (
    Notification,
    RunFailure,
    Station,
    Subscription,
    Transition,
    owed_notifications,
    release_time,
    render_digest,
    run_failure_notifications,
)

SUBSCRIPTION_COLUMNS = (
    "subscription_id, name, channels, email, webhook_url, sms_number, stations, district, basin, rules, "
    "min_severity, quiet_start, quiet_end, digest_minutes, tier, operators, active"
)

INSERT_SQL = """
INSERT INTO ops.alert_outbox (idempotency_key, subscription_id, channel, address, kind, alert_id, run_id,
    severity, subject, body, payload, status, due_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (idempotency_key) DO NOTHING
"""


def _tuple(value: list | None) -> tuple | None:
    return tuple(value) if value is not None else None


def load_subscriptions(cur: psycopg.Cursor, *, active_only: bool = True) -> list[Subscription]:
    where = "WHERE active" if active_only else ""
    cur.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM ops.alert_subscriptions {where} ORDER BY subscription_id"
    )
    return [
        Subscription(
            subscription_id=r[0],
            name=r[1],
            channels=tuple(r[2]),
            email=r[3],
            webhook_url=r[4],
            sms_number=r[5],
            stations=_tuple(r[6]),
            district=r[7],
            basin=r[8],
            rules=_tuple(r[9]),
            min_severity=r[10],
            quiet_start=r[11],
            quiet_end=r[12],
            digest_minutes=r[13],
            tier=r[14],
            operators=r[15],
            active=r[16],
        )
        for r in cur.fetchall()
    ]


def load_stations(cur: psycopg.Cursor, station_ids: Iterable[str]) -> dict[str, Station]:
    cur.execute(
        "SELECT station_id, name, district, basin FROM ref.stations WHERE station_id = ANY(%s)",
        (sorted(set(station_ids)),),
    )
    return {r[0]: Station(*r) for r in cur.fetchall()}


def insert_notifications(cur: psycopg.Cursor, notifications: list[Notification]) -> None:
    """Add owed notifications; a key already present (the same transition written again) is skipped."""
    if not notifications:
        return
    cur.executemany(
        INSERT_SQL,
        [
            (
                n.idempotency_key,
                n.subscription_id,
                n.channel,
                n.address,
                n.kind,
                n.alert_id,
                n.run_id,
                n.severity,
                n.subject,
                n.body,
                Jsonb(n.payload),
                n.status,
                n.due_at,
            )
            for n in notifications
        ],
    )


def write_owed(cur: psycopg.Cursor, transitions: list[Transition], now: datetime | None = None) -> int:
    """Inside the caller's transaction: the notifications these transitions owe, into the outbox."""
    if not transitions:
        return 0
    subscriptions = load_subscriptions(cur)
    if not subscriptions:
        return 0
    stations = load_stations(cur, (t.station_id for t in transitions))
    owed = owed_notifications(
        transitions, subscriptions, stations, now or datetime.now(UTC), settings.dashboard_url()
    )
    insert_notifications(cur, owed)
    return len(owed)


RECORD_FAILURE_SQL = """
INSERT INTO ops.run_failures (run_id, attempt, job_name, asset_keys, partition, message)
VALUES (%(run_id)s, %(attempt)s, %(job_name)s, %(asset_keys)s, %(partition)s, %(message)s)
ON CONFLICT (run_id) DO NOTHING
RETURNING failed_at
"""


def record_run_failure(conn: psycopg.Connection, values: dict) -> int:
    """Record a failed run in ops.run_failures and owe the operators a notification, in one transaction.

    Returns how many notifications were owed (0 when the run was already recorded: a sensor re-tick).
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(RECORD_FAILURE_SQL, values)
        row = cur.fetchone()
        if row is None:
            return 0
        failure = RunFailure(
            run_id=values["run_id"],
            job_name=values["job_name"],
            asset_keys=tuple(values["asset_keys"]),
            partition=values["partition"],
            message=values["message"],
            failed_at=row[0],
        )
        owed = run_failure_notifications(
            failure, load_subscriptions(cur), datetime.now(UTC), settings.dagster_url()
        )
        insert_notifications(cur, owed)
        return len(owed)


ALERT_ROW_COLUMNS = (
    "alert_id",
    "station_id",
    "parameter",
    "rule",
    "severity",
    "status",
    "first_seen",
    "last_seen",
    "resolved_at",
    "last_value",
    "worst_value",
    "threshold",
    "message",
    "escalation_tier",
    "acknowledged_at",
    "created_at",
)
ALERT_ROW_SQL = f"SELECT {', '.join(ALERT_ROW_COLUMNS)} FROM mart.alerts"


def _transition(kind: str, row: tuple, *, tier: int | None = None, actor: str | None = None) -> Transition:
    return Transition(
        kind=kind,
        alert_id=row[0],
        station_id=row[1],
        parameter=row[2],
        rule=row[3],
        severity=row[4],
        first_seen=row[6],
        last_seen=row[7],
        resolved_at=row[8],
        last_value=row[9],
        worst_value=row[10],
        threshold=row[11],
        message=row[12],
        tier=row[13] if tier is None else tier,
        actor=actor,
    )


def escalate_due(conn: psycopg.Connection, after: timedelta, now: datetime | None = None) -> int:
    """Escalate open critical alerts left unacknowledged: tier n -> n+1 once `n × after` has passed since
    the alert was opened, when a subscription of tier n+1 exists. Audit row + outbox rows in one transaction.

    Returns how many alerts were escalated.
    """
    now = now or datetime.now(UTC)
    escalated = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(tier), 1) FROM ops.alert_subscriptions WHERE active")
        top_tier = cur.fetchone()[0]
        cur.execute(
            ALERT_ROW_SQL
            + """
            WHERE status = 'open' AND severity = 'critical' AND acknowledged_at IS NULL
              AND escalation_tier < %(top)s AND created_at + escalation_tier * %(after)s <= %(now)s
            ORDER BY alert_id FOR UPDATE SKIP LOCKED""",
            {"top": top_tier, "after": after, "now": now},
        )
        rows = cur.fetchall()
        transitions = []
        for row in rows:
            tier = row[13] + 1
            cur.execute("UPDATE mart.alerts SET escalation_tier = %s WHERE alert_id = %s", (tier, row[0]))
            cur.execute(
                "INSERT INTO ops.alert_actions (alert_id, action, actor, tier, note) "
                "VALUES (%s, 'escalate', 'escalation', %s, %s)",
                (row[0], tier, f"unacknowledged for {now - row[15]}"),
            )
            transitions.append(_transition("escalated", row, tier=tier))
            escalated += 1
        write_owed(cur, transitions, now)
    return escalated


def build_digests(conn: psycopg.Connection, now: datetime | None = None) -> int:
    """Group each subscription's waiting low-severity notifications into one digest per channel once the
    oldest has waited `digest_minutes`. Returns how many digests were owed."""
    now = now or datetime.now(UTC)
    made = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """SELECT o.notification_id, o.subscription_id, o.channel, o.address, o.subject, o.payload,
                      o.created_at, s.digest_minutes, s.name, s.quiet_start, s.quiet_end
               FROM ops.alert_outbox o JOIN ops.alert_subscriptions s USING (subscription_id)
               WHERE o.status = 'digest' ORDER BY o.notification_id FOR UPDATE OF o SKIP LOCKED"""
        )
        groups: dict[tuple[int, str, str], list[tuple]] = {}
        for row in cur.fetchall():
            groups.setdefault((row[1], row[2], row[3]), []).append(row)
        for (subscription_id, channel, address), rows in groups.items():
            minutes = rows[0][7] or 0
            if min(r[6] for r in rows) + timedelta(minutes=minutes) > now:
                continue
            subject, body, payload = render_digest(rows[0][8], [(r[4], r[5]) for r in rows])
            ids = [r[0] for r in rows]
            key = f"digest:sub{subscription_id}:{channel}:{ids[0]}-{ids[-1]}:{len(ids)}"
            payload["idempotency_key"] = key
            start, end = rows[0][9], rows[0][10]
            cur.execute(
                """INSERT INTO ops.alert_outbox (idempotency_key, subscription_id, channel, address, kind,
                       severity, subject, body, payload, due_at)
                   VALUES (%s, %s, %s, %s, 'digest', 'info', %s, %s, %s, %s)
                   ON CONFLICT (idempotency_key) DO NOTHING RETURNING notification_id""",
                (key, subscription_id, channel, address, subject, body, Jsonb(payload),
                 release_time(start, end, now)),
            )  # fmt: skip
            inserted = cur.fetchone()
            if inserted is None:
                continue
            cur.execute(
                "UPDATE ops.alert_outbox SET status = 'digested', digest_id = %s "
                "WHERE notification_id = ANY(%s)",
                (inserted[0], ids),
            )
            made += 1
    return made


# --- acknowledge / assign / resolve ---------------------------------------------------------------------


class AlertNotFound(LookupError):
    pass


def _locked_alert(cur: psycopg.Cursor, alert_id: int) -> tuple:
    cur.execute(ALERT_ROW_SQL + " WHERE alert_id = %s FOR UPDATE", (alert_id,))
    row = cur.fetchone()
    if row is None:
        raise AlertNotFound(f"no alert #{alert_id} in mart.alerts")
    return row


def acknowledge(conn: psycopg.Connection, alert_id: int, actor: str, note: str | None = None) -> bool:
    """Acknowledge an alert (stops its escalation). Returns False if it was already acknowledged."""
    with conn.transaction(), conn.cursor() as cur:
        row = _locked_alert(cur, alert_id)
        if row[14] is not None:
            return False
        cur.execute(
            "UPDATE mart.alerts SET acknowledged_at = now(), acknowledged_by = %s, updated_at = now() "
            "WHERE alert_id = %s",
            (actor, alert_id),
        )
        cur.execute(
            "INSERT INTO ops.alert_actions (alert_id, action, actor, note) VALUES (%s, 'ack', %s, %s)",
            (alert_id, actor, note),
        )
    return True


def assign(
    conn: psycopg.Connection, alert_id: int, assignee: str, actor: str, note: str | None = None
) -> None:
    with conn.transaction(), conn.cursor() as cur:
        _locked_alert(cur, alert_id)
        cur.execute(
            "UPDATE mart.alerts SET assigned_to = %s, updated_at = now() WHERE alert_id = %s",
            (assignee, alert_id),
        )
        cur.execute(
            "INSERT INTO ops.alert_actions (alert_id, action, actor, assignee, note) "
            "VALUES (%s, 'assign', %s, %s, %s)",
            (alert_id, actor, assignee, note),
        )


def resolve(conn: psycopg.Connection, alert_id: int, actor: str, note: str | None = None) -> int:
    """Resolve an open alert by hand: status, audit, the resolve notifications and the sealed NOTIFY in one
    transaction (as write_alerts does for the pipeline's resolves). Returns notifications owed; raises
    ValueError if the alert is not open."""
    from purehealth_pipelines.live.channels import EVENTS_CHANNEL, alert_message, load_secret, seal

    secret = load_secret(conn)
    with conn.transaction(), conn.cursor() as cur:
        row = _locked_alert(cur, alert_id)
        if row[5] != "open":
            raise ValueError(f"alert #{alert_id} is {row[5]}, not open")
        cur.execute(
            "UPDATE mart.alerts SET status = 'resolved', resolved_at = now(), updated_at = now() "
            "WHERE alert_id = %s",
            (alert_id,),
        )
        cur.execute(
            "INSERT INTO ops.alert_actions (alert_id, action, actor, note) VALUES (%s, 'resolve', %s, %s)",
            (alert_id, actor, note),
        )
        row = _locked_alert(cur, alert_id)
        transition = _transition("resolved", row, actor=actor)
        owed = write_owed(cur, [transition])
        body = alert_message(dict(zip(ALERT_ROW_COLUMNS, row, strict=True)), resolved_by=actor)
        cur.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, seal(secret, EVENTS_CHANNEL, body)))
    return owed


def parse_quiet(text: str | None) -> tuple[time | None, time | None]:
    """'22:00-07:00' -> (22:00, 07:00); None -> (None, None)."""
    if not text:
        return None, None
    start, _, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
