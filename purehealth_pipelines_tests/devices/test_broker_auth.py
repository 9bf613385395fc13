"""Broker authentication against a real (private) Mosquitto: anonymous refused, ACLs, revoke, HUP reload."""

from __future__ import annotations

import queue
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from purehealth_pipelines import settings
from purehealth_pipelines.devices import broker, registry
from purehealth_pipelines_tests import private_broker
from purehealth_pipelines_tests.live.helpers import add_stations, free_port
from realtime_bridge.mqtt_auth import connect


@pytest.fixture(scope="module")
def broker_env() -> Iterator[dict[str, str]]:
    directory = Path(tempfile.mkdtemp(prefix="ph-broker-"))
    env = private_broker.start(directory, free_port())
    yield env
    private_broker.stop(directory)


@pytest.fixture
def auth(broker_env: dict[str, str], warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    for key, value in broker_env.items():
        monkeypatch.setenv(key, value)
    prefix = f"A{uuid.uuid4().hex[:6].upper()}"
    stations = [f"{prefix}-1", f"{prefix}-2"]
    add_stations(warehouse_url, stations)
    yield {"url": warehouse_url, "port": int(broker_env["PUREHEALTH_MQTT_PORT"]), "stations": stations}
    broker.remove_fragment(broker.fragment_name(warehouse_url))


def subscriber(port: int, client_id: str, clean: bool = True) -> tuple[mqtt.Client, queue.Queue]:
    """The bridge's login subscribed to every station's readings (persistent session when not clean)."""
    received: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(*settings.mqtt_bridge_credentials())
    subscribed = queue.Queue()
    client.on_message = lambda _c, _u, m: received.put((m.topic, m.payload))
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: subscribed.put(codes)
    client.on_connect = lambda c, _u, _f, rc, _p: c.subscribe("purehealth/v1/stations/+/readings", qos=1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300
    client.connect("127.0.0.1", port, clean_start=clean, properties=props)
    client.loop_start()
    codes = subscribed.get(timeout=10)
    assert not codes[0].is_failure, codes
    return client, received


def test_anonymous_and_wrong_password_are_refused(auth) -> None:
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", auth["port"], "anon", None, timeout=1)
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", auth["port"], "bad", ("purehealth-bridge", "wrong"), timeout=1)


def test_sensor_publishes_only_its_own_station_and_bridge_cannot_publish(auth) -> None:
    a, b = auth["stations"]
    issued = registry.add(auth["url"], a, "probe")
    sub, received = subscriber(auth["port"], f"bridge-{uuid.uuid4().hex[:6]}")
    sensor = connect("127.0.0.1", auth["port"], "sensor-a", (issued.username, issued.secret))
    sensor.publish(f"purehealth/v1/stations/{b}/readings", b"forged", qos=1).wait_for_publish(5)
    sensor.publish(f"purehealth/v1/stations/{a}/readings", b"mine", qos=1).wait_for_publish(5)
    bridge_pub = connect("127.0.0.1", auth["port"], "bridge-pub", settings.mqtt_bridge_credentials())
    bridge_pub.publish(f"purehealth/v1/stations/{a}/readings", b"from-bridge", qos=1).wait_for_publish(5)
    sensor.publish(f"purehealth/v1/stations/{a}/readings", b"last", qos=1).wait_for_publish(5)
    got = [received.get(timeout=5) for _ in range(2)]
    assert got == [
        (f"purehealth/v1/stations/{a}/readings", b"mine"),
        (f"purehealth/v1/stations/{a}/readings", b"last"),
    ]
    assert received.empty()  # neither the forged message nor the bridge's own publish arrived
    for client in (sub, sensor, bridge_pub):
        client.loop_stop()
        client.disconnect()


def test_revoked_credential_is_refused_and_bridge_session_survives_reload(auth) -> None:
    a, _ = auth["stations"]
    issued = registry.add(auth["url"], a, "probe")
    sub, received = subscriber(auth["port"], f"bridge-{uuid.uuid4().hex[:6]}", clean=False)
    disconnects: list[object] = []
    sub.on_disconnect = lambda *args: disconnects.append(args)
    credential = (issued.username, issued.secret)
    connect("127.0.0.1", auth["port"], "sensor-before", credential).disconnect()
    assert registry.revoke(auth["url"], a, "probe") == [issued.username]  # rewrites files + SIGHUP
    other = registry.add(auth["url"], a, "other")  # a second reload while the session is up
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", auth["port"], "sensor-after", credential, timeout=2)
    sensor = connect("127.0.0.1", auth["port"], "sensor-other", (other.username, other.secret))
    sensor.publish(f"purehealth/v1/stations/{a}/readings", b"after-reload", qos=1).wait_for_publish(5)
    assert received.get(timeout=5)[1] == b"after-reload"
    assert sub.is_connected() and not disconnects
    assert [d.username for d in registry.list_devices(auth["url"]) if d.station_id == a] == [other.username]
    sensor.disconnect()
    sub.loop_stop()
    sub.disconnect()
