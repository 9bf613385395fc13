"""Pure validation rules of the MQTT contract (no I/O)."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from realtime_bridge.simulator import StationModel, malformed_payload
from realtime_bridge.validation import (
    Catalog,
    Heartbeat,
    Reading,
    Rejection,
    validate_reading,
    validate_status,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
CATALOG = Catalog(stations=frozenset({"IOT-1"}), units={"do_mg_l": "mg/L", "ph": "pH units", "temp_c": "°C"})
TOPIC = "purehealth/v1/stations/IOT-1/readings"


def test_a_valid_reading_is_accepted_with_its_offset_kept() -> None:
    payload = b'{"ts":"2025-06-01T17:00:00+05:30","values":{"do_mg_l":7.2,"ph":7},"sensor_id":"s-1","seq":4}'
    reading = validate_reading(TOPIC, payload, CATALOG, NOW)
    assert isinstance(reading, Reading)
    assert reading.ts == datetime(2025, 6, 1, 11, 30, tzinfo=UTC)
    assert reading.values == {"do_mg_l": 7.2, "ph": 7.0} and reading.seq == 4 and reading.sensor_id == "s-1"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (
            "purehealth/v1/stations/IOT-9/readings",
            b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":7}}',
            "unknown_station",
        ),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00","values":{"ph":7}}', "timestamp_without_offset"),
        (TOPIC, b'{"ts":"2025-06-02T12:00:00Z","values":{"ph":7}}', "timestamp_in_future"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":"7"}}', "value_not_a_number"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":true}}', "value_not_a_number"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":NaN}}', "invalid_json"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph_units":7}}', "unknown_parameter"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":7},"units":{"ph":"mg/L"}}', "unit_mismatch"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{}}', "bad_values"),
        (TOPIC, b"[1,2]", "not_an_object"),
        (TOPIC, b"\xff\xfe", "invalid_json"),
        (TOPIC, b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":7},"seq":-1}', "bad_seq"),
    ],
)
def test_invalid_readings_are_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    outcome = validate_reading(topic, payload, CATALOG, NOW)
    assert isinstance(outcome, Rejection) and outcome.reason == reason, outcome


def test_only_live_sensor_stations_may_publish() -> None:
    catalog = Catalog(
        stations=frozenset({"IOT-1", "NWMP-1153"}), units=CATALOG.units, live_stations=frozenset({"IOT-1"})
    )
    payload = b'{"ts":"2025-06-01T12:00:00Z","values":{"ph":7}}'
    lab = validate_reading("purehealth/v1/stations/NWMP-1153/readings", payload, catalog, NOW)
    assert isinstance(lab, Rejection) and lab.reason == "not_a_live_station"
    status_topic = "purehealth/v1/stations/NWMP-1153/status"
    heartbeat = validate_status(status_topic, b'{"status":"online"}', catalog, NOW)
    assert isinstance(heartbeat, Rejection) and heartbeat.reason == "not_a_live_station"
    assert isinstance(validate_reading(TOPIC, payload, catalog, NOW), Reading)


def test_every_fuzzed_payload_is_rejected_and_nothing_raises() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        kind, payload = malformed_payload(rng, NOW)
        assert isinstance(validate_reading(TOPIC, payload, CATALOG, NOW), Rejection), (kind, payload[:80])


def test_simulated_messages_are_valid() -> None:
    catalog = Catalog(
        stations=frozenset({"IOT-1"}),
        units=dict.fromkeys(["temp_c", "do_mg_l", "ph", "ec_us_cm", "turbidity_ntu"], "u"),
    )
    model = StationModel.create("IOT-1", seed=3)
    for minutes in range(0, 24 * 60, 15):
        at = NOW + timedelta(minutes=minutes) - timedelta(days=1)
        assert isinstance(validate_reading(TOPIC, model.message(at), catalog, NOW), Reading)


def test_heartbeats_carry_battery_and_signal() -> None:
    topic = "purehealth/v1/stations/IOT-1/status"
    beat = validate_status(topic, b'{"battery_pct": 81.5, "rssi": -70, "status": "online"}', CATALOG, NOW)
    assert isinstance(beat, Heartbeat) and beat.battery_pct == 81.5 and beat.signal_dbm == -70
    assert isinstance(validate_status(topic, b"offline", CATALOG, NOW), Heartbeat)
    assert isinstance(validate_status(topic, b'{"battery_pct": "full"}', CATALOG, NOW), Rejection)
