"""The live path: MQTT -> raw.sensor_messages (the bridge; raw.sensor_readings shows it per reading) and
committed readings -> WebSocket clients.

See README.md in this folder for the contracts (topics, payloads, PostgreSQL channels, WebSocket protocol).
"""
