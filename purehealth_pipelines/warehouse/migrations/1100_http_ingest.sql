-- HTTP ingest (issue 16): a role with exactly what the ingest path needs, and the dead-letter look-up index.
--
-- Why a new group role and not purehealth_writer: the ingest endpoints face the network, and the writer role
-- may change anything in ref/raw/core/mart/ml/ops. The API's ingest pool runs `SET ROLE purehealth_ingest`
-- on each session (purehealth_pipelines/api/ingest.py), so whatever login it connects with, a bug there can
-- only append sensor messages and dead letters, update sensor health, and read what validation and the token
-- check need. Created only when missing (roles are cluster-wide; every test database runs this file).
DO $$ BEGIN CREATE ROLE purehealth_ingest NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;

GRANT USAGE ON SCHEMA ref, raw, ops TO purehealth_ingest;
-- Validation's catalog (realtime_bridge/writer.py load_catalog).
GRANT SELECT ON ref.stations, ref.parameters TO purehealth_ingest;
-- The token check (devices/registry.active_device) and the NOTIFY sealing key (live/channels.py).
GRANT SELECT ON ops.devices, ops.notify_keys TO purehealth_ingest;
-- The landing COPY, and the redelivery path that reads the stored message back to tell a duplicate from a
-- conflict. No UPDATE/DELETE: a landed reading is never changed through this path.
GRANT SELECT, INSERT ON raw.sensor_messages TO purehealth_ingest;
-- Dead letters: appended; read only by the duplicate check of a retried bad request.
GRANT SELECT, INSERT ON ops.dead_letters TO purehealth_ingest;
GRANT USAGE ON SEQUENCE ops.dead_letters_id_seq TO purehealth_ingest;
-- Station health upsert (ON CONFLICT DO UPDATE reads the existing row).
GRANT SELECT, INSERT, UPDATE ON ops.sensor_health TO purehealth_ingest;

-- Every HTTP request may be a client's retry of one whose answer was lost, so the ingest looks for the same
-- (origin, payload, reason) before recording a dead letter, as the bridge does for MQTT DUP redeliveries
-- (migration 0202); the bridge's look-up SQL names the source as a literal so this partial index applies.
CREATE INDEX IF NOT EXISTS dead_letters_http_retry
    ON ops.dead_letters (origin, md5(payload), reason) WHERE source = 'http';
