-- Device credentials (issue 16): one row per credential issued to a sensor. The broker's password and ACL
-- files and the HTTP ingest's token check are both derived from this table, so revoking a row here and
-- re-rendering (`purehealth sensors revoke`) locks the device out of both paths.
CREATE TABLE IF NOT EXISTS ops.devices (
    username      text PRIMARY KEY,
    station_id    text NOT NULL,
    sensor_id     text NOT NULL,
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    note          text
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_active_sensor
    ON ops.devices (station_id, sensor_id) WHERE revoked_at IS NULL;

COMMENT ON TABLE ops.devices IS 'credentials issued to field sensors (MQTT password = HTTP ingest token); secrets stored hashed only';
COMMENT ON COLUMN ops.devices.username IS 'MQTT username and HTTP token prefix, <station_id>/<sensor_id>/<issue suffix>';
COMMENT ON COLUMN ops.devices.station_id IS 'the one station whose readings/status topics (and HTTP path) this credential may publish to';
COMMENT ON COLUMN ops.devices.sensor_id IS 'the sensor (device) at the station that holds this credential';
COMMENT ON COLUMN ops.devices.secret_hash IS 'PBKDF2-SHA512 hash of the secret in Mosquitto password-file format ($7$iterations$salt$hash); the secret itself is shown once at issue and never stored';
COMMENT ON COLUMN ops.devices.created_at IS 'when the credential was issued';
COMMENT ON COLUMN ops.devices.revoked_at IS 'when the credential was revoked (NULL = active); revoked rows stay for audit';
COMMENT ON COLUMN ops.devices.note IS 'free text from the operator who issued the credential';
