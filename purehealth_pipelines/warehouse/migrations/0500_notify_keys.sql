-- The secret that seals live NOTIFY payloads (purehealth_pipelines/live/channels.py says why).
-- PostgreSQL has no privilege on NOTIFY channels, so any role — the read-only analyst included — can
-- pg_notify('purehealth_events', …). Writers seal each payload with an HMAC keyed by this secret and the
-- broadcaster drops what does not verify. The schema `ops` is readable by writers only, never by analysts.
-- gen_random_uuid() draws from the server's strong random source: two of them give 244 random bits.
CREATE TABLE ops.notify_keys (
    key_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO ops.notify_keys (secret)
VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
REVOKE ALL ON ops.notify_keys FROM PUBLIC;
GRANT SELECT ON ops.notify_keys TO purehealth_writer;
