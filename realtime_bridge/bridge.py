"""The MQTT -> TimescaleDB bridge: persistent QoS 1 session, batched idempotent writes, ack after COMMIT.

Threads (a pipeline; profiled in bench/bench_live.py): paho's network loop only enqueues (an exception in
`on_message` would stop paho's loop, docs/stack_notes.md; fastmqtt.py trims paho's per-message cost); a
prepare thread collects batches (flushed by size or by time since the first message) and validates/encodes
them while the main thread has the previous batch in the database; the main thread writes each batch in one
transaction (writer.py) and only then acknowledges its messages, in receive order. The hand-over queue holds
one prepared batch, so while the database is busy the inbox fills and the next batch is larger (batches grow
with load, up to --batch-max, without a timer to tune).

Delivery guarantee: a message is acknowledged only after its rows (or its dead letter) are committed, so
the broker redelivers anything not yet committed after a crash, a kill -9 or a broker restart; the unique
key (station_id, parameter, ts) with ON CONFLICT DO NOTHING absorbs the redelivery. Net effect: each
reading lands exactly once. Flow control: MQTT v5 Receive Maximum caps what the broker sends before we
acknowledge, so a database outage stops the inflow instead of filling memory.

Acks carry the connection "generation" they were received on: after a reconnect the packet ids of an old
connection are not acknowledged (the broker redelivers those messages on the resumed session and the
redelivered copies are acknowledged instead), so an ack can never hit a different message.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from realtime_bridge import fastmqtt
from realtime_bridge.metrics import Metrics, serve_http
from realtime_bridge.writer import BatchResult, BatchWriter, Inbound, PreparedBatch

log = logging.getLogger("realtime_bridge.bridge")

DEFAULT_TOPIC_ROOT = "purehealth/v1"
FAULT_EXIT_CODE = 86  # --fault-crash-after-commits
METRIC_HELP = {
    "messages_received_total": "MQTT messages received (readings + status)",
    "messages_committed_total": "messages whose batch was committed",
    "messages_acked_total": "PUBACKs sent after commit",
    "acks_skipped_total": "acks not sent because the connection changed (the broker redelivers)",
    "rows_offered_total": "reading rows offered to raw.sensor_readings",
    "rows_inserted_total": "reading rows new to raw.sensor_readings (the rest were redelivered duplicates)",
    "heartbeats_total": "status messages accepted",
    "dead_letters_total": "messages written to ops.dead_letters",
    "batches_total": "batches committed",
    "db_errors_total": "failed batch transactions (retried, not acknowledged)",
    "mqtt_connects_total": "successful MQTT (re)connections",
    "mqtt_disconnects_total": "MQTT disconnections",
    "stations_marked_offline_total": "stations marked offline by the minute check",
    "last_batch_seconds": "duration of the last batch transaction",
    "last_batch_size": "messages in the last batch",
}


@dataclass
class BridgeConfig:
    database_url: str
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    # Broker login (None = anonymous, which scripts/services.sh's broker refuses): the bridge credential
    # may only subscribe to station topics; tests rooted under test/ use the tools credential.
    mqtt_credential: tuple[str, str] | None = None
    client_id: str = "purehealth-bridge-1"
    share_group: str | None = None  # MQTT shared subscription group ($share/<group>/...)
    topic_root: str = DEFAULT_TOPIC_ROOT
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    batch_max: int = 5_000
    batch_wait_s: float = 0.002  # batches grow with load through the pipeline; waiting only adds latency
    receive_maximum: int = 0  # 0 = min(65535, 4 × batch_max)
    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0 = no HTTP endpoint
    offline_after: timedelta = timedelta(minutes=5)
    health_check_interval_s: float = 60.0  # the original system checked every minute
    catalog_refresh_s: float = 60.0
    notify: bool = True
    drain_timeout_s: float = 20.0
    stats_interval_s: float = 10.0
    crash_after_commits: int = 0  # fault injection (tests): os._exit after this many commits, before acking
    # fastmqtt's cheaper receive path (paho internals, checked by fastmqtt.supported()); off = plain paho,
    # the same semantics at a higher CPU cost per message (the escape hatch if a paho upgrade breaks it).
    fast_receive: bool = True

    @property
    def subscriptions(self) -> list[str]:
        topics = [f"{self.topic_root}/stations/+/readings", f"{self.topic_root}/stations/+/status"]
        if self.share_group:
            topics = [f"$share/{self.share_group}/{t}" for t in topics]
        return topics


class Bridge:
    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        # prepare thread -> main thread; None = the prepare thread has drained and stopped.
        self.prepared: queue.Queue[tuple[list[Inbound], PreparedBatch] | None] = queue.Queue(maxsize=1)
        self.writer_done = threading.Event()
        self.taken = threading.Event()  # the main thread took the last prepared batch
        self.stop_event = threading.Event()
        self.metrics = Metrics("purehealth_bridge", METRIC_HELP)
        self.writer = BatchWriter(
            config.database_url, notify=config.notify, topic_prefix=f"{config.topic_root}/stations/"
        )
        self.generation = 0
        self.connected = False
        self.database_ok = False
        self.accepting = True
        self.last_commit_monotonic: float | None = None
        self.started = time.monotonic()
        self.client = self._make_client()

    # --- MQTT side (paho's thread: enqueue only) ---------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        fast = self.config.fast_receive and fastmqtt.supported()
        client_class = fastmqtt.FastClient if fast else mqtt.Client
        log.info("receive path: %s", "fastmqtt read-ahead" if fast else "plain paho")
        client = client_class(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.config.mqtt_credential is not None:
            client.username_pw_set(*self.config.mqtt_credential)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        if isinstance(client, fastmqtt.FastClient):
            client.on_fast_message = self._on_fast_message
        client.reconnect_delay_set(min_delay=1, max_delay=30)  # paho backs off exponentially between these
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum or min(65_535, 4 * self.config.batch_max)
        return props

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        self.generation += 1
        self.connected = True
        self.metrics.inc("mqtt_connects_total")
        log.info(
            "connected to %s:%s as %s (session present: %s); subscribing %s",
            self.config.mqtt_host,
            self.config.mqtt_port,
            self.config.client_id,
            flags.session_present,
            self.config.subscriptions,
        )
        # Subscribe every time: harmless on a resumed session, required when the session expired.
        client.subscribe([(topic, 1) for topic in self.config.subscriptions])

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.generation += 1  # acks for what was received on the old connection are now skipped
        self.connected = False
        self.metrics.inc("mqtt_disconnects_total")
        if not self.stop_event.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        try:
            if not self.accepting:
                return  # shutting down: not acknowledged, so the broker redelivers it to the next session
            self.inbox.put(
                Inbound(
                    message.topic,
                    message.payload,
                    message.mid,
                    message.qos,
                    self.generation,
                    bool(message.dup),
                )
            )
            self.metrics.values["messages_received_total"] += 1
        except Exception:
            log.exception("could not enqueue a message (it will be redelivered)")

    def _on_fast_message(self, topic: str, payload: bytes, mid: int, qos: int, dup: bool) -> None:
        """fastmqtt's callback for plain QoS 1 publishes (paho's thread: enqueue only, never raise)."""
        try:
            if not self.accepting:
                return  # shutting down: not acknowledged, so the broker redelivers it to the next session
            self.inbox.put(Inbound(topic, payload, mid, qos, self.generation, dup))
            self.metrics.values["messages_received_total"] += 1
        except Exception:
            log.exception("could not enqueue a message (it will be redelivered)")

    # --- writer side (main thread) --------------------------------------------------------------------------
    def _collect(self, wait: float = 0.2) -> list[Inbound]:
        inbox, batch_max = self.inbox, self.config.batch_max
        try:
            batch = [inbox.get(timeout=wait)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < batch_max:
            try:
                batch.append(inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _write_until_committed(
        self, prepared: PreparedBatch, give_up_at: float | None = None
    ) -> BatchResult | None:
        """Retry the batch until it commits (database restarts); None if `give_up_at` passed first.

        Without `give_up_at`, a stop request during an outage starts the drain deadline (drain_timeout_s).
        """
        delay = 0.25
        while True:
            try:
                started = time.perf_counter()
                result = self.writer.commit(prepared)
                self.metrics.set("last_batch_seconds", time.perf_counter() - started)
                if not self.database_ok:
                    log.info("database write OK")
                self.database_ok = True
                return result
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.database_ok = False
                self.metrics.inc("db_errors_total")
                log.warning("database unavailable (%s); not acknowledging, retrying in %.2fs", exc, delay)
                self.writer.close()
            except psycopg.Error as exc:
                # Not a connection problem: keep retrying (nothing is acknowledged, nothing lost), loudly.
                self.database_ok = False
                self.metrics.inc("db_errors_total")
                log.error(
                    "batch rejected by the database (%s: %s); retrying in %.2fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self.writer.close()
            if self.stop_event.is_set() and give_up_at is None:
                give_up_at = time.monotonic() + self.config.drain_timeout_s
            if give_up_at is not None and time.monotonic() + delay > give_up_at:
                return None
            self.stop_event.wait(delay) if give_up_at is None else time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _acknowledge(self, batch: list[Inbound]) -> None:
        client, generation = self.client, self.generation
        mids = [item.mid for item in batch if item.qos > 0 and item.generation == generation]  # receive order
        skipped = sum(1 for item in batch if item.qos > 0) - len(mids)
        if isinstance(client, fastmqtt.FastClient):
            client.ack_many(mids)
        else:
            for mid in mids:
                client.ack(mid, 1)
        self.metrics.values["messages_acked_total"] += len(mids)
        if skipped:
            self.metrics.inc("acks_skipped_total", skipped)

    def _record(self, result: BatchResult) -> None:
        values = self.metrics.values
        values["messages_committed_total"] += result.messages
        values["rows_offered_total"] += result.rows_offered
        values["rows_inserted_total"] += result.rows_inserted
        values["heartbeats_total"] += result.heartbeats
        values["dead_letters_total"] += result.dead_letters
        values["batches_total"] += 1
        values["last_batch_size"] = result.messages
        for reason, count in result.reasons.items():
            self.metrics.inc_labelled("dead_letters_by_reason_total", reason, count)
        self.last_commit_monotonic = time.monotonic()

    def process_batch(
        self, batch: list[Inbound], prepared: PreparedBatch, give_up_at: float | None = None
    ) -> bool:
        result = self._write_until_committed(prepared, give_up_at)
        if result is None:
            return False
        self._record(result)
        if (
            self.config.crash_after_commits
            and self.metrics.values["batches_total"] >= self.config.crash_after_commits
        ):
            log.critical(
                "fault injection: exiting after COMMIT, before acknowledging %d messages", len(batch)
            )
            logging.shutdown()
            os._exit(FAULT_EXIT_CODE)
        self._acknowledge(batch)
        return True

    def _hand_over(self, item: tuple[list[Inbound], PreparedBatch] | None) -> bool:
        """Queue `item` and wait until the main thread takes it; False if it stopped taking batches.

        Waiting for the take (not just for queue space) is what makes batches grow with load: the next
        batch is collected only when the database thread is ready for it, so it holds everything that
        arrived during the previous commit, and is prepared while that one commits.
        """
        self.taken.clear()
        while not self.writer_done.is_set():
            try:
                self.prepared.put(item, timeout=0.2)
                break
            except queue.Full:
                continue
        while not self.writer_done.is_set():
            if self.taken.wait(0.2):
                return True
        return False

    def _prepare_loop(self) -> None:
        """Prepare thread: collect, validate and encode batches; after a stop, drain the inbox, then None."""
        try:
            while not self.stop_event.is_set():
                batch = self._collect()
                if batch and not self._hand_over((batch, self.writer.prepare(batch, datetime.now(UTC)))):
                    return
            # Drain: take nothing new, hand over what was received.
            self.accepting = False
            time.sleep(0.05)
            while True:
                batch = self._collect(wait=0.0)
                if not batch:
                    break
                if not self._hand_over((batch, self.writer.prepare(batch, datetime.now(UTC)))):
                    return
        except Exception:
            log.exception("prepare thread failed; stopping (unacknowledged messages will be redelivered)")
            self.stop_event.set()
        finally:
            self._hand_over(None)

    def _housekeeping(self, now: float, timers: dict[str, float]) -> None:
        try:
            if now - timers["catalog"] >= self.config.catalog_refresh_s:
                timers["catalog"] = now
                self.writer.refresh_catalog()
            if now - timers["health"] >= self.config.health_check_interval_s:
                timers["health"] = now
                offline = self.writer.mark_offline(self.config.offline_after)
                if offline:
                    self.metrics.inc("stations_marked_offline_total", len(offline))
                    log.warning("stations offline (silent > %s): %s", self.config.offline_after, offline[:20])
        except psycopg.Error as exc:
            log.warning("housekeeping skipped (%s)", exc)
            self.writer.close()
        if now - timers["stats"] >= self.config.stats_interval_s:
            timers["stats"] = now
            v = self.metrics.values
            log.info(
                "received %d, committed %d (rows new %d of %d), dead letters %d, heartbeats %d, queue %d",
                v["messages_received_total"],
                v["messages_committed_total"],
                v["rows_inserted_total"],
                v["rows_offered_total"],
                v["dead_letters_total"],
                v["heartbeats_total"],
                self.inbox.qsize(),
            )

    def health(self) -> tuple[bool, dict]:
        age = None if self.last_commit_monotonic is None else time.monotonic() - self.last_commit_monotonic
        body = {
            "status": "ok" if self.connected and self.database_ok else "degraded",
            "mqtt_connected": self.connected,
            "database_ok": self.database_ok,
            "queue_depth": self.inbox.qsize(),
            "seconds_since_last_commit": age,
            "uptime_seconds": time.monotonic() - self.started,
            "client_id": self.config.client_id,
        }
        return self.connected and self.database_ok, body

    def render_metrics(self) -> str:
        return self.metrics.render(
            {
                "queue_depth": float(self.inbox.qsize()),
                "mqtt_connected": float(self.connected),
                "database_ok": float(self.database_ok),
            }
        )

    def request_stop(self, *_: object) -> None:
        if not self.stop_event.is_set():
            log.info("stop requested: draining, committing, acknowledging")
        self.stop_event.set()

    def run(self, install_signal_handlers: bool = True) -> int:
        cfg = self.config
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        http_server = (
            serve_http(cfg.http_host, cfg.http_port, self.health, self.render_metrics)
            if cfg.http_port
            else None
        )
        # Database first: no point taking messages we cannot commit.
        while not self.stop_event.is_set():
            try:
                self.writer.connect()
                self.database_ok = True
                break
            except psycopg.Error as exc:
                log.warning("database not reachable (%s); retrying", exc)
                self.stop_event.wait(2.0)
        log.info(
            "catalog: %d stations, %d parameters",
            len(self.writer.catalog.stations) if self.writer.catalog else 0,
            len(self.writer.catalog.units) if self.writer.catalog else 0,
        )
        self.client.connect_async(
            cfg.mqtt_host,
            cfg.mqtt_port,
            keepalive=cfg.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self.client.loop_start()
        preparer = threading.Thread(target=self._prepare_loop, name="bridge-prepare", daemon=True)
        preparer.start()
        now = time.monotonic()
        timers = {"catalog": now, "health": now, "stats": now}
        drained = 0
        try:
            while True:
                try:
                    item = self.prepared.get(timeout=0.2)
                    self.taken.set()
                except queue.Empty:
                    if not self.stop_event.is_set():
                        self._housekeeping(time.monotonic(), timers)
                    continue
                if item is None:
                    break  # the prepare thread drained the inbox after a stop
                batch, prepared = item
                stopping = self.stop_event.is_set()
                if not self.process_batch(batch, prepared):
                    log.warning(
                        "database unavailable while stopping: %d+ messages left for redelivery", len(batch)
                    )
                    break
                if stopping:
                    drained += len(batch)
                else:
                    self._housekeeping(time.monotonic(), timers)
            self.writer_done.set()
            self._wait_for_acks_sent(timeout=2.0)
            log.info(
                "drained %d messages; disconnecting (session kept for %ds)", drained, cfg.session_expiry_s
            )
        finally:
            self.writer_done.set()
            self.accepting = False
            self.stop_event.set()
            preparer.join(timeout=5)
            self.client.disconnect()
            self.client.loop_stop()
            self.writer.close()
            if http_server is not None:
                http_server.shutdown()
        return 0

    def _wait_for_acks_sent(self, timeout: float) -> None:
        """Let paho's loop write the queued PUBACKs before DISCONNECT."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = getattr(self.client, "_out_packet", None)
            if not pending:
                return
            time.sleep(0.02)
