"""`purehealth alerts subscribe|unsubscribe|list|ack|assign|resolve` and `purehealth notify`.

These write to the warehouse, so they connect with PUREHEALTH_WAREHOUSE_URL (a writer role), never as the
read-only analyst.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import signal
import threading
from datetime import timedelta

import psycopg

from purehealth_pipelines import settings
from purehealth_pipelines.alerts import outbox
from purehealth_pipelines.alerts.routing import SEVERITY_RANK

log = logging.getLogger(__name__)
URL_HELP = "warehouse URL of a writer role (default: PUREHEALTH_WAREHOUSE_URL)"


def _csv(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _connect(args: argparse.Namespace) -> psycopg.Connection:
    return psycopg.connect(args.url or settings.warehouse_url(), autocommit=True)


def _subscribe(args: argparse.Namespace) -> int:
    channels = [
        name
        for name, address in (("email", args.email), ("webhook", args.webhook), ("sms", args.sms))
        if address
    ]
    if not channels:
        print("give at least one of --email, --webhook, --sms")
        return 2
    quiet_start, quiet_end = outbox.parse_quiet(args.quiet)
    secret = args.webhook_secret or (secrets.token_hex(32) if args.webhook else None)
    with _connect(args) as conn:
        row = conn.execute(
            """INSERT INTO ops.alert_subscriptions (name, email, webhook_url, webhook_secret, sms_number,
                   channels, stations, district, basin, rules, min_severity, quiet_start, quiet_end,
                   digest_minutes, tier, operators)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET email = EXCLUDED.email, webhook_url = EXCLUDED.webhook_url,
                   webhook_secret = EXCLUDED.webhook_secret, sms_number = EXCLUDED.sms_number,
                   channels = EXCLUDED.channels, stations = EXCLUDED.stations, district = EXCLUDED.district,
                   basin = EXCLUDED.basin, rules = EXCLUDED.rules, min_severity = EXCLUDED.min_severity,
                   quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
                   digest_minutes = EXCLUDED.digest_minutes, tier = EXCLUDED.tier,
                   operators = EXCLUDED.operators, active = true
               RETURNING subscription_id""",
            (args.name, args.email, args.webhook, secret, args.sms, channels, _csv(args.stations),
             args.district, args.basin, _csv(args.rules), args.min_severity, quiet_start, quiet_end,
             args.digest_minutes, args.tier, args.operators),
        ).fetchone()  # fmt: skip
    print(f"subscription {row[0]} ({args.name}): {', '.join(channels)}")
    if args.webhook and not args.webhook_secret:
        print(f"webhook secret (verify X-PureHealth-Signature with it): {secret}")
    return 0


def _unsubscribe(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        done = conn.execute(
            "UPDATE ops.alert_subscriptions SET active = false WHERE name = %s AND active", (args.name,)
        ).rowcount
    print(f"{args.name}: {'unsubscribed' if done else 'no active subscription of that name'}")
    return 0 if done else 1


def _list(args: argparse.Namespace) -> int:
    with _connect(args) as conn, conn.cursor() as cur:
        subs = outbox.load_subscriptions(cur, active_only=not args.all)
    for s in subs:
        scope = ", ".join(
            f"{label}={value}"
            for label, value in (
                ("stations", ",".join(s.stations) if s.stations else None),
                ("district", s.district),
                ("basin", s.basin),
                ("rules", ",".join(s.rules) if s.rules else None),
            )
            if value
        )
        quiet = f" quiet {s.quiet_start:%H:%M}-{s.quiet_end:%H:%M} IST" if s.quiet_start else ""
        digest = f" digest {s.digest_minutes} min" if s.digest_minutes else ""
        print(
            f"{s.subscription_id:>4} {s.name:<20} {'/'.join(s.channels):<18} >= {s.min_severity:<8} "
            f"tier {s.tier}{' operators' if s.operators else ''}{quiet}{digest} "
            f"[{scope or 'all stations'}]{'' if s.active else ' (inactive)'}"
        )
    return 0


def _actor(args: argparse.Namespace) -> str:
    return args.by or getpass.getuser()


def _act(args: argparse.Namespace, act, done: str) -> int:
    """Run one action; a missing alert or a state that forbids it is a sentence and exit status 1."""
    try:
        with _connect(args) as conn:
            result = act(conn)
    except (outbox.AlertNotFound, outbox.AlertConflict) as exc:
        print(str(exc).strip("'\""))
        return 1
    print(f"alert #{args.alert_id}: {done.format(result=result)}")
    return 0


def _ack(args: argparse.Namespace) -> int:
    return _act(args, lambda c: outbox.acknowledge(c, args.alert_id, _actor(args), args.note), "acknowledged")


def _assign(args: argparse.Namespace) -> int:
    return _act(
        args,
        lambda c: outbox.assign(c, args.alert_id, args.to, _actor(args), args.note),
        f"assigned to {args.to}",
    )


def _resolve(args: argparse.Namespace) -> int:
    return _act(
        args,
        lambda c: outbox.resolve(c, args.alert_id, _actor(args), args.note),
        "resolved; {result} notification(s) owed",
    )


def _operators_add(args: argparse.Namespace) -> int:
    from purehealth_pipelines.alerts import operators

    try:
        with _connect(args) as conn:
            token = operators.issue(conn, args.name, _csv(args.actions), args.note)
    except operators.OperatorError as exc:
        print(exc)
        return 2
    print(f"operator {args.name}: may {', '.join(operators.check_actions(_csv(args.actions)))}")
    print(f"token (shown once; send it as 'Authorization: Bearer <token>'): {token}")
    return 0


def _operators_revoke(args: argparse.Namespace) -> int:
    from purehealth_pipelines.alerts import operators

    with _connect(args) as conn:
        done = operators.revoke(conn, args.name)
    print(f"{args.name}: {'revoked' if done else 'no active operator token of that name'}")
    return 0 if done else 1


def _operators_list(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        rows = conn.execute(
            "SELECT name, actions, created_at, revoked_at, note FROM ops.alert_operators ORDER BY name"
        ).fetchall()
    for name, actions, created, revoked, note in rows:
        state = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "active"
        print(f"{name:<24} {','.join(actions):<20} issued {created:%Y-%m-%d %H:%M} {state}  {note or ''}")
    return 0


def _notify(args: argparse.Namespace) -> int:
    from purehealth_pipelines.alerts.channels import default_senders
    from purehealth_pipelines.alerts.worker import WorkerConfig, drain, run

    config = WorkerConfig(
        threads=args.threads,
        max_attempts=args.max_attempts,
        backoff_base_seconds=args.backoff_seconds,
        poll_seconds=args.poll_seconds,
        escalate_after=timedelta(minutes=args.escalate_after_minutes),
    )
    url = args.url or settings.warehouse_url()
    if args.once:
        print(f"{drain(url, default_senders(), config)} notification(s) handled")
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run(url, config, stop)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    alerts = commands.add_parser("alerts", help="alert subscriptions; acknowledge, assign, resolve alerts")
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    def action(name: str, help_: str, handler) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_)
        parser.add_argument(
            "--url", help="warehouse URL of a writer role (default: PUREHEALTH_WAREHOUSE_URL)"
        )
        parser.set_defaults(handler=handler)
        return parser

    sub = action("subscribe", "add or replace a subscription (by name)", _subscribe)
    sub.add_argument("name")
    sub.add_argument("--email")
    sub.add_argument("--webhook", help="URL to POST signed JSON to")
    sub.add_argument("--webhook-secret", help="HMAC key (default: a random one, printed)")
    sub.add_argument("--sms", help="E.164 phone number")
    sub.add_argument("--stations", help="comma-separated station ids (default: all)")
    sub.add_argument("--district")
    sub.add_argument("--basin")
    sub.add_argument("--rules", help="comma-separated rule names (default: all)")
    sub.add_argument("--min-severity", choices=list(SEVERITY_RANK), default="warning")
    sub.add_argument("--quiet", help="quiet hours in IST, e.g. 22:00-07:00 (criticals still go out)")
    sub.add_argument("--digest-minutes", type=int, help="group info alerts into one digest per N minutes")
    sub.add_argument("--tier", type=int, default=1, help="escalation tier (1 = told as alerts open)")
    sub.add_argument("--operators", action="store_true", help="also told of failed Dagster runs")
    unsub = action("unsubscribe", "deactivate a subscription", _unsubscribe)
    unsub.add_argument("name")
    lst = action("list", "list subscriptions", _list)
    lst.add_argument("--all", action="store_true", help="include inactive ones")
    for name, help_, handler in (
        ("ack", "acknowledge an alert (stops its escalation)", _ack),
        ("assign", "assign an alert to someone", _assign),
        ("resolve", "resolve an open alert by hand (subscribers are told)", _resolve),
    ):
        parser = action(name, help_, handler)
        parser.add_argument("alert_id", type=int)
        parser.add_argument("--by", help="who (default: the login name)")
        parser.add_argument("--note")
        if name == "assign":
            parser.add_argument("--to", required=True, help="assignee")

    ops_parser = actions.add_parser(
        "operators",
        help="tokens for POST /api/alerts/{id}/ack|assign|resolve",
        description="Operators act on alerts through the API with a bearer token `<name>:<secret>`. The "
        "token is printed once by `add` and stored hashed; the audit (ops.alert_actions) records the name.",
    )
    ops_actions = ops_parser.add_subparsers(dest="operators_command", metavar="ACTION", required=True)
    for name, help_, handler in (
        ("add", "issue a token (replaces the operator's earlier one)", _operators_add),
        ("revoke", "revoke the operator's token (the API answers 401 from then on)", _operators_revoke),
        ("list", "list operators (never their tokens)", _operators_list),
    ):
        parser = ops_actions.add_parser(name, help=help_)
        parser.add_argument("--url", help=URL_HELP)
        parser.set_defaults(handler=handler)
        if name != "list":
            parser.add_argument("name", help="operator name (letters, digits, _ . @ -)")
        if name == "add":
            parser.add_argument(
                "--actions", help="comma-separated subset of ack,assign,resolve (default: all three)"
            )
            parser.add_argument("--note", help="free text kept with the operator (who, which team)")

    notify = commands.add_parser("notify", help="deliver owed alert notifications (email, webhook, SMS)")
    notify.add_argument("--url", help="warehouse URL of a writer role (default: PUREHEALTH_WAREHOUSE_URL)")
    notify.add_argument("--threads", type=int, default=4, help="delivery threads (one SMTP/HTTP send each)")
    notify.add_argument("--max-attempts", type=int, default=5)
    notify.add_argument("--backoff-seconds", type=float, default=5.0, help="first retry delay (doubles)")
    notify.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="how often to look for work that became due (quiet hours ended, a retry's backoff); new "
        "notifications wake the worker at once through NOTIFY",
    )
    notify.add_argument(
        "--escalate-after-minutes",
        type=float,
        default=30.0,
        help="an unacknowledged critical moves up one tier after this long at its current tier",
    )
    notify.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    notify.set_defaults(handler=_notify)
