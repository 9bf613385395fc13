"""fastmqtt relies on paho internals: this pins them, and proves the bridge is right without them.

The contract test fails when the installed paho is not the pinned one or its internals change shape, before
the bridge meets it in production. The bridge test runs the same exactly-once landing with `--plain-paho`,
the escape hatch for a paho fastmqtt does not support.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import paho.mqtt
import paho.mqtt.client as mqtt

from purehealth_pipelines_tests.live.helpers import (
    VALUES,
    BridgeProcess,
    assert_exactly_once,
    count_rows,
    make_lines,
    private_area,
    publish_lines,
    unique,
    wait_for,
)
from realtime_bridge import fastmqtt

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned_paho() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("paho-mqtt==")]
    return pin.split("==", 1)[1]


def test_the_installed_paho_is_the_pinned_one_with_the_internals_fastmqtt_uses() -> None:
    assert paho.mqtt.__version__ == _pinned_paho()
    assert fastmqtt.supported()
    assert list(inspect.signature(mqtt.Client._create_socket).parameters) == ["self"]
    assert list(inspect.signature(mqtt.Client._handle_publish).parameters) == ["self"]
    assert list(inspect.signature(mqtt.Client._packet_queue).parameters)[:5] == [
        "self",
        "command",
        "packet",
        "mid",
        "qos",
    ]
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    assert {"command", "packet"} <= set(client._in_packet)
    # The PUBACK fastmqtt writes for many mids at once is the one paho writes for one.
    assert re.search(r"PUBACK", inspect.getsource(mqtt.Client._send_puback))


def test_the_bridge_on_plain_paho_lands_every_reading_exactly_once(
    module_warehouse_url: str, tmp_path
) -> None:
    url = module_warehouse_url
    prefix, stations, root = private_area(url, n_stations=2)
    per_station = 1_000
    bridge = BridgeProcess(url, unique("bridge-plain"), root, tmp_path, "--plain-paho").start()
    try:
        publishers = [
            publish_lines(f"{root}/stations/{station}/readings", make_lines(per_station), unique("pub"))
            for station in stations
        ]
        for proc in publishers:
            assert proc.wait(60) == 0, proc.stderr.read()
        expected = len(stations) * per_station * len(VALUES)
        wait_for(lambda: count_rows(url, prefix) >= expected, 60, what="every reading landed")
        assert_exactly_once(url, prefix, stations, per_station)
    finally:
        assert bridge.stop() == 0
    assert "receive path: plain paho" in bridge.log_text()
