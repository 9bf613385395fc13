"""Authenticated MQTT publishers: what the simulator and the demo seeding use to publish like sensors.

The broker refuses anonymous clients (scripts/services.sh) and confines each sensor credential to its own
station's topics, so a publisher for many stations holds one connection per station credential — exactly
what a fleet of real sensors does. Tools that publish under test/# or bench/# use one shared connection with
the tools credential instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import paho.mqtt.client as mqtt

Credential = tuple[str, str]  # (username, password)


def connect(
    host: str,
    port: int,
    client_id: str,
    credential: Credential | None,
    timeout: float = 15.0,
    protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
) -> mqtt.Client:
    """A started paho client that has received a successful CONNACK.

    Retries a refused CONNACK until `timeout`: a credential issued a moment ago becomes valid only when
    the broker has processed its SIGHUP, which is asynchronous.
    """
    deadline = time.monotonic() + timeout
    while True:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        if credential is not None:
            client.username_pw_set(*credential)
        client.max_inflight_messages_set(0)
        outcome: dict[str, object] = {}
        done = threading.Event()

        def on_connect(_c, _u, _f, reason_code, _p, outcome=outcome, done=done) -> None:
            outcome["rc"] = reason_code
            done.set()

        client.on_connect = on_connect
        client.connect(host, port)
        client.loop_start()
        done.wait(max(0.1, deadline - time.monotonic()))
        rc = outcome.get("rc")
        if rc is not None and not rc.is_failure:
            client.on_connect = None
            return client
        client.loop_stop()
        client.disconnect()
        if time.monotonic() >= deadline:
            raise ConnectionRefusedError(f"MQTT {host}:{port} refused {client_id}: {rc}")
        time.sleep(0.3)


class StationPublisher:
    """Publish for many stations: one connection per station credential, or one shared connection."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        shared: Credential | None = None,
        per_station: Mapping[str, Credential] | None = None,
    ) -> None:
        self._clients: dict[str, mqtt.Client] = {}
        self._shared: mqtt.Client | None = None
        if per_station:
            for index, (station, credential) in enumerate(sorted(per_station.items())):
                self._clients[station] = connect(host, port, f"{client_id}-{index}", credential)
        else:
            self._shared = connect(host, port, client_id, shared)

    def publish(self, station: str, topic: str, payload: bytes | str, qos: int = 1) -> mqtt.MQTTMessageInfo:
        client = self._clients.get(station) or self._shared
        if client is None:
            raise KeyError(f"no credential for station {station}")
        return client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        for client in [*self._clients.values(), *([self._shared] if self._shared else [])]:
            client.loop_stop()
            client.disconnect()
