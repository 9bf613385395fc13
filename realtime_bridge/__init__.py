"""The live path: MQTT -> raw.sensor_readings (the bridge) and committed readings -> WebSocket clients.

See README.md in this folder for the contracts (topics, payloads, PostgreSQL channels, WebSocket protocol).
"""
