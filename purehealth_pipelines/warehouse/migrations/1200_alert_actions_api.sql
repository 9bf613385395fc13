-- Alert delivery, the parts issue 15 still owed (see README "Alerts that reach people"):
-- 1. the escalation clock: an unacknowledged critical escalates `after` minutes from when its current tier
--    was reached — its (re-)opening or its previous escalation — not from when the row was first created;
--    a re-opened alert is a new episode (acknowledgement cleared, back to tier 1);
-- 2. a wake-up NOTIFY when notifications are owed, so `purehealth notify` sends them at once instead of at
--    its next poll;
-- 3. operators of the API's POST /api/alerts/{id}/ack|assign|resolve (tokens stored hashed) and the narrow
--    login role that API writes through; the audit says through which path an action came.

-- 1. The escalation clock.
ALTER TABLE mart.alerts ADD COLUMN escalation_clock_at timestamptz NOT NULL DEFAULT now();
UPDATE mart.alerts a
SET escalation_clock_at = coalesce(
    (SELECT max(x.at) FROM ops.alert_actions x WHERE x.alert_id = a.alert_id AND x.action = 'escalate'),
    a.created_at);
COMMENT ON COLUMN mart.alerts.escalation_clock_at IS 'since when the alert is unacknowledged at its current escalation tier: its (re-)opening or its last escalation; it escalates once this is `--escalate-after-minutes` old';

-- A resolved alert that breaches again within the cooldown is re-opened (marts/alerts.py): whoever
-- acknowledged the earlier episode has not seen this one, so it starts over at tier 1 with a fresh clock.
-- A trigger, so every writer that re-opens an alert gets it (the pipeline's write_alerts today).
CREATE FUNCTION mart.alerts_reopen_resets_escalation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.acknowledged_at := NULL;
    NEW.acknowledged_by := NULL;
    NEW.escalation_tier := 1;
    NEW.escalation_clock_at := now();
    RETURN NEW;
END $$;
COMMENT ON FUNCTION mart.alerts_reopen_resets_escalation() IS 'a re-opened alert: acknowledgement cleared, escalation tier 1, clock restarted';
CREATE TRIGGER alerts_reopen_resets_escalation
    BEFORE UPDATE OF status ON mart.alerts
    FOR EACH ROW WHEN (OLD.status = 'resolved' AND NEW.status = 'open')
    EXECUTE FUNCTION mart.alerts_reopen_resets_escalation();

-- 2. Wake the delivery worker when notifications are owed. Delivered at COMMIT, once per transaction; a
-- forged NOTIFY on this channel only makes the worker look at the outbox early (it trusts the table).
CREATE FUNCTION ops.alert_outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('purehealth_alert_outbox', '');
    RETURN NULL;
END $$;
COMMENT ON FUNCTION ops.alert_outbox_wake() IS 'NOTIFY purehealth_alert_outbox: `purehealth notify` delivers at once instead of at its next poll';
CREATE TRIGGER alert_outbox_wake AFTER INSERT ON ops.alert_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION ops.alert_outbox_wake();

-- 3. Operators of the alert-action API.
CREATE TABLE ops.alert_operators (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.@\-]{1,64}$'),
    token_hash  text NOT NULL,
    actions     text[] NOT NULL DEFAULT ARRAY['ack', 'assign', 'resolve']
                CHECK (actions <@ ARRAY['ack', 'assign', 'resolve']::text[] AND cardinality(actions) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    note        text
);
COMMENT ON TABLE ops.alert_operators IS 'people who may act on alerts through the API (`purehealth alerts operators add`); tokens stored hashed only';
COMMENT ON COLUMN ops.alert_operators.name IS 'operator name, recorded as the actor in ops.alert_actions and the token prefix (<name>:<secret>)';
COMMENT ON COLUMN ops.alert_operators.token_hash IS 'PBKDF2-SHA512 hash of the token secret ($7$ format, devices/credentials.py); the secret is shown once at issue';
COMMENT ON COLUMN ops.alert_operators.actions IS 'what the operator may do through the API: any of ack, assign, resolve (else 403)';
COMMENT ON COLUMN ops.alert_operators.created_at IS 'when the token was issued';
COMMENT ON COLUMN ops.alert_operators.revoked_at IS 'when the token was revoked (NULL = active); revoked rows stay for audit';
COMMENT ON COLUMN ops.alert_operators.note IS 'free text from whoever issued the token';

ALTER TABLE ops.alert_actions ADD COLUMN via text CHECK (via IN ('cli', 'api', 'worker'));
COMMENT ON COLUMN ops.alert_actions.via IS 'through what: cli (`purehealth alerts`), api (an operator token), worker (escalation); NULL before migration 1200';

-- The API's writer: no login of its own here (migrate.py gives the login `alert_api` membership and a
-- password). It may change only the columns an ack / assign / resolve changes, append the audit, owe the
-- resolve's notifications (subscriptions readable without their webhook secrets), seal the resolve's live
-- event (ops.notify_keys, as every writer of mart.alerts does) and read operators to check tokens.
DO $$ BEGIN CREATE ROLE purehealth_alert_actor NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA ref, mart, ops TO purehealth_alert_actor;
GRANT SELECT ON mart.alerts, ref.stations, ops.notify_keys, ops.alert_operators TO purehealth_alert_actor;
GRANT UPDATE (status, resolved_at, acknowledged_at, acknowledged_by, assigned_to, updated_at)
    ON mart.alerts TO purehealth_alert_actor;
GRANT SELECT (subscription_id, name, channels, email, webhook_url, sms_number, stations, district, basin,
              rules, min_severity, quiet_start, quiet_end, digest_minutes, tier, operators, active)
    ON ops.alert_subscriptions TO purehealth_alert_actor;
GRANT INSERT ON ops.alert_outbox, ops.alert_actions TO purehealth_alert_actor;
GRANT SELECT (idempotency_key) ON ops.alert_outbox TO purehealth_alert_actor;  -- ON CONFLICT (idempotency_key)
GRANT USAGE ON SEQUENCE ops.alert_outbox_notification_id_seq, ops.alert_actions_action_id_seq
    TO purehealth_alert_actor;
