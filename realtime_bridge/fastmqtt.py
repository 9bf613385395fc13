"""A paho client with a cheaper receive path, for the bridge's QoS 1 firehose.

Why (profiled with py-spy at ~4 k msg/s, bench/bench_live.py): paho 2.2 spent more of the one Python core
than the whole database write. Per message it makes a `select()` and three `recv()` syscalls (command byte,
remaining length, body), builds an MQTT v5 `Properties` object even when the packet carries none, an
`MQTTMessage`, formats a debug log line, takes two mutexes and walks the topic matcher; and every
`client.ack()` writes a wake-up byte to a socketpair and later gets its own `send()`.

What this subclass changes, and nothing else:
- the socket is wrapped in a read-ahead buffer (one `recv()` of up to 256 KiB serves many packets) that
  reports `pending()` bytes — the hook paho already honours for TLS sockets — so paho's loop does not wait
  in `select()` while whole packets sit in the buffer; `loop_read` handles every buffered packet per pass;
- a QoS 1 PUBLISH without properties (what Mosquitto forwards from our sensors) is decoded with slicing and
  handed to `on_fast_message(topic, payload, mid, qos, dup)`; anything else takes paho's normal path;
- `ack_many(mids)` queues all the PUBACKs of a committed batch as ONE write (MQTT v5 allows the 4-byte
  PUBACK without reason code, the same bytes paho sends for `ack()`).
It relies on paho internals (`_create_socket`, `_handle_publish`, `_in_packet`, `_packet_queue`), so the
bridge pins paho-mqtt==2.2.0 (setup.py) and `supported()` checks they exist; otherwise the bridge uses
plain paho with the same semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import paho.mqtt
import paho.mqtt.client as mqtt

READ_AHEAD_BYTES = 256 * 1024
_PUBACK_HEADER = 0x40020000  # PUBACK (0x40), remaining length 2, then the 16-bit packet id
_PUBLISH = 0x30
_PUBACK = 0x40
_MAX_PACKETS_PER_READ = 4096  # let paho's loop send acks and keepalives between bursts


def supported() -> bool:
    """Whether the installed paho has the internals this relies on (checked for 2.2)."""
    version = getattr(paho.mqtt, "__version__", "")
    return version.startswith("2.") and all(
        hasattr(mqtt.Client, name) for name in ("_create_socket", "_handle_publish", "_packet_queue")
    )


class ReadAheadSocket:
    """Delegates to the real socket; `recv` is served from a buffer filled by large reads."""

    __slots__ = ("_buffer", "_position", "_sock")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        buffer, position = self._buffer, self._position
        if position >= len(buffer):
            buffer = self._sock.recv(max(size, READ_AHEAD_BYTES))  # BlockingIOError etc. pass through
            if not buffer:
                return buffer
            self._buffer, position = buffer, 0
        end = position + size
        self._position = end
        return buffer[position:end]

    def pending(self) -> int:
        return max(0, len(self._buffer) - self._position)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


FastMessageCallback = Callable[[str, bytes, int, int, bool], None]
_DUP_FLAG = 0x08  # fixed-header bit 3 of PUBLISH: a re-delivery


class FastClient(mqtt.Client):
    """paho's Client with the buffered receive path and batched PUBACKs described above."""

    on_fast_message: FastMessageCallback | None = None

    def _create_socket(self):
        return ReadAheadSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        budget = _MAX_PACKETS_PER_READ
        sock = self._sock
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and budget and self._sock is sock:
            if not isinstance(sock, ReadAheadSocket) or not sock.pending():
                break
            rc = super().loop_read(1)
            budget -= 1
        return rc

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        callback = self.on_fast_message
        command = self._in_packet["command"]
        qos = (command & 0x06) >> 1
        if callback is None or qos != 1 or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        topic_end = 2 + ((packet[0] << 8) | packet[1])
        if len(packet) < topic_end + 3 or packet[topic_end + 2] != 0:  # truncated, or has properties
            return super()._handle_publish()
        mid = (packet[topic_end] << 8) | packet[topic_end + 1]
        topic = bytes(packet[2:topic_end]).decode("utf-8", "surrogateescape")
        callback(topic, bytes(packet[topic_end + 3 :]), mid, qos, bool(command & _DUP_FLAG))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK every packet id in `mids` (receive order kept) in one queued write."""
        if not mids:
            return
        header = _PUBACK_HEADER
        blob = b"".join((header | mid).to_bytes(4, "big") for mid in mids)
        self._packet_queue(_PUBACK, blob, 0, 1)
