"""The broker's TLS listener (8883 in the field) with the self-signed certificate scripts/services.sh makes.

A private broker is started with the same configuration plus the TLS listener on a free port (the shared
broker's files are never changed): a sensor credential connects over TLS verifying the pinned CA and
publishes; a client that does not trust that CA is refused at the handshake; TLS does not replace the
password (a wrong one is refused over TLS too).
"""

from __future__ import annotations

import queue
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from purehealth_pipelines.devices import broker, registry
from purehealth_pipelines_tests import private_broker
from purehealth_pipelines_tests.devices.test_broker_auth import subscriber
from purehealth_pipelines_tests.live.helpers import add_stations, free_port
from realtime_bridge.validation import TOPIC_PREFIX


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[dict]:
    directory = Path(tempfile.mkdtemp(prefix="ph-broker-tls-"))
    tls_port = free_port()
    env = private_broker.start(directory, free_port(), tls_port=tls_port)
    yield {"env": env, "tls_port": tls_port, "ca": directory / "auth" / "tls" / "ca.crt"}
    private_broker.stop(directory)


@pytest.fixture
def sensor(tls_broker: dict, warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    for key, value in tls_broker["env"].items():
        monkeypatch.setenv(key, value)
    station = f"TLS{uuid.uuid4().hex[:6].upper()}"
    add_stations(warehouse_url, [station])
    issued = registry.add(warehouse_url, station, "probe")  # renders the private broker's files + SIGHUP
    yield {"station": station, "issued": issued, **tls_broker}
    broker.remove_fragment(broker.fragment_name(warehouse_url))


def tls_client(client_id: str, credential: tuple[str, str], ca: Path | None) -> mqtt.Client:
    """A paho client that verifies the server: against `ca`, or (None) the system's default trust store."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(*credential)
    client.tls_set(ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED)
    return client


def connack(client: mqtt.Client, port: int, timeout: float = 10.0) -> object:
    """Connect and return the CONNACK reason code (retrying a refusal while the broker's HUP is applied)."""
    outcome: queue.Queue = queue.Queue()
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.put(rc)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return outcome.get(timeout=timeout)


def test_sensor_connects_over_tls_pinning_the_ca_and_publishes(sensor: dict) -> None:
    issued = sensor["issued"]
    port = int(sensor["env"]["PUREHEALTH_MQTT_PORT"])
    sub, received = subscriber(port, f"bridge-{uuid.uuid4().hex[:6]}")
    client = None
    for _ in range(20):  # the credential is valid once the broker has processed its SIGHUP
        client = tls_client(f"tls-{uuid.uuid4().hex[:6]}", (issued.username, issued.secret), sensor["ca"])
        rc = connack(client, sensor["tls_port"])
        if not rc.is_failure:
            break
        client.loop_stop()
        client.disconnect()
        threading.Event().wait(0.3)
    assert client is not None and client.is_connected()
    assert isinstance(client.socket(), ssl.SSLSocket)
    assert client.socket().getpeercert()["subject"] == ((("commonName", "purehealth-mqtt"),),)
    topic = f"{TOPIC_PREFIX}{sensor['station']}/readings"
    client.publish(topic, b'{"over":"tls"}', qos=1).wait_for_publish(5)
    assert received.get(timeout=10) == (topic, b'{"over":"tls"}')
    for c in (client, sub):
        c.loop_stop()
        c.disconnect()


def test_client_that_does_not_trust_the_ca_is_refused(sensor: dict) -> None:
    issued = sensor["issued"]
    client = tls_client("untrusting", (issued.username, issued.secret), ca=None)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self[- ]signed"):
        client.connect("127.0.0.1", sensor["tls_port"])


def test_tls_does_not_replace_the_password(sensor: dict) -> None:
    issued = sensor["issued"]
    client = tls_client("wrong-password", (issued.username, "not-the-secret"), sensor["ca"])
    rc = connack(client, sensor["tls_port"])
    client.loop_stop()
    assert rc.is_failure
