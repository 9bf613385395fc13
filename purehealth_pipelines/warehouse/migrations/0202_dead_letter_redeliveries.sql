-- The bridge acknowledges a message only after COMMIT, so a crash between the two makes the broker redeliver
-- it with the MQTT DUP flag set. A redelivered *valid* message is absorbed by raw.sensor_messages' key; a
-- redelivered *invalid* one would be dead-lettered a second time. For DUP messages the bridge therefore
-- looks for the same (topic, payload, reason) first; this index makes that look-up cheap.
CREATE INDEX IF NOT EXISTS dead_letters_mqtt_redelivery
    ON ops.dead_letters (origin, md5(payload), reason) WHERE source = 'mqtt';
