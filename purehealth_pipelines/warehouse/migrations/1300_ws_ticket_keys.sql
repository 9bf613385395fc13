-- Keys that sign the dashboard's WebSocket tickets (purehealth_pipelines/live/tickets.py says why and how).
-- The read API mints a short-lived, subscribe-only ticket per page load through its read-only analyst login;
-- the broadcaster verifies it through the writer login. So both roles read this one table, and nothing
-- else in ops: the analyst gets USAGE on the schema (name lookup only) and SELECT on this table alone —
-- ops.notify_keys, alert subscriptions and the rest stay unreadable to it (no table privilege).
-- gen_random_uuid() draws from the server's strong random source: two of them give 244 random bits.
CREATE TABLE ops.ws_ticket_keys (
    key_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE ops.ws_ticket_keys IS
    'HMAC keys of the dashboard''s WebSocket tickets: the API signs with the newest, the broadcaster accepts any row; delete a row to revoke its tickets';
COMMENT ON COLUMN ops.ws_ticket_keys.key_id IS 'named in each ticket, so a key can be rotated without cutting the tickets of the previous one';
COMMENT ON COLUMN ops.ws_ticket_keys.secret IS 'the HMAC-SHA256 key (hex text from the server''s strong random source)';
COMMENT ON COLUMN ops.ws_ticket_keys.created_at IS 'when the key was made';
INSERT INTO ops.ws_ticket_keys (secret)
VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
REVOKE ALL ON ops.ws_ticket_keys FROM PUBLIC;
GRANT SELECT ON ops.ws_ticket_keys TO purehealth_writer;
GRANT USAGE ON SCHEMA ops TO purehealth_analyst;
GRANT SELECT ON ops.ws_ticket_keys TO purehealth_analyst;
