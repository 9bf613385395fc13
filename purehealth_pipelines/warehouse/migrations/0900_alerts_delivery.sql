-- Alerts that reach people (issue 15): subscriptions, a transactional outbox, delivery attempts, and the
-- acknowledge / assign / resolve / escalate audit. See docs/warehouse.md ("Alert delivery").
-- Subscriptions, outbox and attempts live in `ops`: they hold addresses and webhook secrets, which the
-- analyst role (SELECT on ref/core/mart only) must not read.

-- Who is told what about alerts, how, and when.
CREATE TABLE ops.alert_subscriptions (
    subscription_id bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    email           text,
    webhook_url     text,
    webhook_secret  text,
    sms_number      text,
    channels        text[] NOT NULL CHECK (channels <@ ARRAY['email', 'webhook', 'sms']::text[]
                                           AND cardinality(channels) > 0),
    stations        text[],
    district        text,
    basin           text,
    rules           text[],
    min_severity    text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    quiet_start     time,
    quiet_end       time,
    digest_minutes  integer CHECK (digest_minutes IS NULL OR digest_minutes > 0),
    tier            integer NOT NULL DEFAULT 1 CHECK (tier >= 1),
    operators       boolean NOT NULL DEFAULT false,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
COMMENT ON TABLE ops.alert_subscriptions IS 'who is told about which alerts, through which channels, and when';
COMMENT ON COLUMN ops.alert_subscriptions.subscription_id IS 'surrogate key';
COMMENT ON COLUMN ops.alert_subscriptions.name IS 'who: a person or a team (unique; the CLI addresses subscriptions by it)';
COMMENT ON COLUMN ops.alert_subscriptions.email IS 'address for the email channel';
COMMENT ON COLUMN ops.alert_subscriptions.webhook_url IS 'URL the webhook channel POSTs JSON to';
COMMENT ON COLUMN ops.alert_subscriptions.webhook_secret IS 'HMAC-SHA256 key for X-PureHealth-Signature (else PUREHEALTH_WEBHOOK_SECRET)';
COMMENT ON COLUMN ops.alert_subscriptions.sms_number IS 'E.164 number for the SMS channel';
COMMENT ON COLUMN ops.alert_subscriptions.channels IS 'how: any of email, webhook, sms';
COMMENT ON COLUMN ops.alert_subscriptions.stations IS 'what: these station ids only (NULL = not restricted by station)';
COMMENT ON COLUMN ops.alert_subscriptions.district IS 'what: stations of this district only (NULL = any)';
COMMENT ON COLUMN ops.alert_subscriptions.basin IS 'what: stations of this basin only (NULL = any)';
COMMENT ON COLUMN ops.alert_subscriptions.rules IS 'what: these alert rules only (NULL = every rule)';
COMMENT ON COLUMN ops.alert_subscriptions.min_severity IS 'what: the least severe alert that is sent (info < warning < critical)';
COMMENT ON COLUMN ops.alert_subscriptions.quiet_start IS 'when: start of quiet hours, IST wall clock (non-critical held until quiet_end)';
COMMENT ON COLUMN ops.alert_subscriptions.quiet_end IS 'when: end of quiet hours, IST wall clock (may be before quiet_start: spans midnight)';
COMMENT ON COLUMN ops.alert_subscriptions.digest_minutes IS 'when: info alerts are grouped into one digest per this many minutes (NULL = sent one by one)';
COMMENT ON COLUMN ops.alert_subscriptions.tier IS 'escalation tier: 1 hears of alerts as they open; n > 1 only when an unacknowledged critical escalates to n';
COMMENT ON COLUMN ops.alert_subscriptions.operators IS 'true: also told of failed Dagster runs (ops.run_failures)';
COMMENT ON COLUMN ops.alert_subscriptions.active IS 'false after `purehealth alerts unsubscribe` (kept so old outbox rows still name it)';
COMMENT ON COLUMN ops.alert_subscriptions.created_at IS 'when the subscription was made';

-- The transactional outbox: written in the same transaction as the alert transition that owes it.
CREATE TABLE ops.alert_outbox (
    notification_id bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    subscription_id bigint NOT NULL REFERENCES ops.alert_subscriptions,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook', 'sms')),
    address         text NOT NULL,
    kind            text NOT NULL,
    alert_id        bigint,
    run_id          text,
    severity        text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'digest', 'digested', 'sent', 'dead')),
    due_at          timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    digest_id       bigint REFERENCES ops.alert_outbox,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX alert_outbox_due ON ops.alert_outbox (due_at) WHERE status = 'pending';
CREATE INDEX alert_outbox_digest ON ops.alert_outbox (subscription_id, channel) WHERE status = 'digest';
CREATE INDEX alert_outbox_alert ON ops.alert_outbox (alert_id);
COMMENT ON TABLE ops.alert_outbox IS 'notifications owed, written with the alert transition that owes them; sent by `purehealth notify`';
COMMENT ON COLUMN ops.alert_outbox.notification_id IS 'surrogate key';
COMMENT ON COLUMN ops.alert_outbox.idempotency_key IS 'one per (transition, subscription, channel); sent to receivers (header / Message-ID) so they can de-duplicate';
COMMENT ON COLUMN ops.alert_outbox.subscription_id IS 'recipient';
COMMENT ON COLUMN ops.alert_outbox.channel IS 'email | webhook | sms';
COMMENT ON COLUMN ops.alert_outbox.address IS 'email address, webhook URL or phone number at the time the notification was owed';
COMMENT ON COLUMN ops.alert_outbox.kind IS 'opened | reopened | resolved | escalated | run_failed | digest';
COMMENT ON COLUMN ops.alert_outbox.alert_id IS 'mart.alerts row (NULL for run failures and digests)';
COMMENT ON COLUMN ops.alert_outbox.run_id IS 'failed Dagster run (kind run_failed)';
COMMENT ON COLUMN ops.alert_outbox.severity IS 'severity of the alert (critical for run failures)';
COMMENT ON COLUMN ops.alert_outbox.subject IS 'email subject / first line';
COMMENT ON COLUMN ops.alert_outbox.body IS 'plain-text message: what, where, how bad, since when, value vs criterion, link';
COMMENT ON COLUMN ops.alert_outbox.payload IS 'the webhook JSON body';
COMMENT ON COLUMN ops.alert_outbox.status IS 'pending (due_at) | digest (waiting to be grouped) | digested (into digest_id) | sent | dead (gave up: last_error)';
COMMENT ON COLUMN ops.alert_outbox.due_at IS 'not sent before: end of quiet hours, or the next retry after a backoff';
COMMENT ON COLUMN ops.alert_outbox.attempts IS 'delivery attempts that finished (success or failure)';
COMMENT ON COLUMN ops.alert_outbox.last_error IS 'reason of the latest failed attempt; for a dead letter, why it was given up';
COMMENT ON COLUMN ops.alert_outbox.digest_id IS 'the digest notification this row was grouped into';
COMMENT ON COLUMN ops.alert_outbox.created_at IS 'when the notification was owed (the transition commit)';
COMMENT ON COLUMN ops.alert_outbox.sent_at IS 'when the receiver accepted it';

-- Dead letters: notifications given up, with the reason.
CREATE VIEW ops.alert_dead_letters AS
SELECT notification_id, idempotency_key, subscription_id, channel, address, kind, alert_id, run_id,
       attempts, last_error AS reason, created_at
FROM ops.alert_outbox WHERE status = 'dead';
COMMENT ON VIEW ops.alert_dead_letters IS 'notifications the worker gave up on, with the reason';

-- Every delivery attempt that finished (an attempt cut short by kill -9 rolls back with its claim).
CREATE TABLE ops.alert_delivery_attempts (
    attempt_id      bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES ops.alert_outbox,
    attempt         integer NOT NULL,
    worker          text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    ok              boolean NOT NULL,
    error           text
);
CREATE INDEX alert_delivery_attempts_notification ON ops.alert_delivery_attempts (notification_id);
COMMENT ON TABLE ops.alert_delivery_attempts IS 'each finished delivery attempt of an outbox row';
COMMENT ON COLUMN ops.alert_delivery_attempts.attempt_id IS 'surrogate key';
COMMENT ON COLUMN ops.alert_delivery_attempts.notification_id IS 'the outbox row';
COMMENT ON COLUMN ops.alert_delivery_attempts.attempt IS '1 for the first attempt';
COMMENT ON COLUMN ops.alert_delivery_attempts.worker IS 'host:pid/thread of the worker that made it';
COMMENT ON COLUMN ops.alert_delivery_attempts.started_at IS 'when the send began';
COMMENT ON COLUMN ops.alert_delivery_attempts.finished_at IS 'when the receiver answered or the send failed';
COMMENT ON COLUMN ops.alert_delivery_attempts.ok IS 'true: the receiver accepted it';
COMMENT ON COLUMN ops.alert_delivery_attempts.error IS 'why it failed (HTTP status and body head, SMTP reply, exception)';

-- Acknowledge / assign / resolve / escalate, by whom and when.
CREATE TABLE ops.alert_actions (
    action_id   bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL,
    action      text NOT NULL CHECK (action IN ('ack', 'assign', 'resolve', 'escalate')),
    actor       text NOT NULL,
    assignee    text,
    tier        integer,
    note        text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_actions_alert ON ops.alert_actions (alert_id, at);
COMMENT ON TABLE ops.alert_actions IS 'audit trail of acknowledge, assign, resolve and escalate';
COMMENT ON COLUMN ops.alert_actions.action_id IS 'surrogate key';
COMMENT ON COLUMN ops.alert_actions.alert_id IS 'mart.alerts row';
COMMENT ON COLUMN ops.alert_actions.action IS 'ack | assign | resolve | escalate';
COMMENT ON COLUMN ops.alert_actions.actor IS 'who did it (login name, or "escalation" for the worker)';
COMMENT ON COLUMN ops.alert_actions.assignee IS 'assign: to whom';
COMMENT ON COLUMN ops.alert_actions.tier IS 'escalate: the tier reached';
COMMENT ON COLUMN ops.alert_actions.note IS 'free text given with the action';
COMMENT ON COLUMN ops.alert_actions.at IS 'when';

ALTER TABLE mart.alerts
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by text,
    ADD COLUMN assigned_to text,
    ADD COLUMN escalation_tier integer NOT NULL DEFAULT 1;
COMMENT ON COLUMN mart.alerts.acknowledged_at IS 'when someone acknowledged the alert (NULL = not yet; criticals escalate)';
COMMENT ON COLUMN mart.alerts.acknowledged_by IS 'who acknowledged it';
COMMENT ON COLUMN mart.alerts.assigned_to IS 'who is working on it';
COMMENT ON COLUMN mart.alerts.escalation_tier IS 'highest subscriber tier told of it (1 = as opened; raised by escalation)';
