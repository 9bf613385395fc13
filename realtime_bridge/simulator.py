"""Realistic IoT sensor traffic for registered stations, with injected faults, and a payload fuzzer.

The physics is deliberately simple but shaped like real river sondes (see shared/reference/water_quality.md):
- water temperature follows a diurnal sine peaking mid-afternoon (~15:00 IST) with ±1.5 °C amplitude;
- dissolved oxygen follows photosynthesis: maximum in the late afternoon, minimum before dawn, and falls
  as temperature rises (solubility); amplitude ~1.5 mg/L around a station-specific mean (5-8 mg/L);
- pH rides the same photosynthesis cycle (CO2 uptake raises pH by day), ±0.2;
- conductivity and turbidity wander slowly with noise.
Faults (`--faults`), the ones QARTOD tests are meant to catch: slow drift (fouled DO membrane), spikes,
stuck sensors (flat line), dropouts (station silent for a while), and malformed messages.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

log = logging.getLogger("realtime_bridge.simulator")

IST = timedelta(hours=5, minutes=30)
PARAMETERS = ("temp_c", "do_mg_l", "ph", "ec_us_cm", "turbidity_ntu")


@dataclass
class StationModel:
    station_id: str
    rng: random.Random
    temp_mean: float
    do_mean: float
    ph_mean: float
    ec_mean: float
    turbidity_mean: float
    seq: int = 0
    drift_per_hour: float = 0.0
    stuck_value: float | None = None
    silent_until: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def create(cls, station_id: str, seed: int | None) -> StationModel:
        rng = random.Random(f"{seed}:{station_id}" if seed is not None else None)
        return cls(
            station_id=station_id,
            rng=rng,
            temp_mean=rng.uniform(24.0, 30.0),
            do_mean=rng.uniform(5.0, 8.0),
            ph_mean=rng.uniform(7.2, 8.2),
            ec_mean=rng.uniform(250.0, 900.0),
            turbidity_mean=rng.uniform(5.0, 60.0),
        )

    def values(self, at: datetime, faults: bool) -> dict[str, float]:
        local_hour = ((at + IST).hour + (at + IST).minute / 60.0) % 24
        daylight = math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)  # peaks at 15:00 IST
        rng = self.rng
        temp = self.temp_mean + 1.5 * daylight + rng.gauss(0, 0.05)
        # DO: photosynthesis peak late afternoon, solubility falls ~0.2 mg/L per °C (Benson & Krause 1984).
        do = self.do_mean + 1.5 * daylight - 0.2 * (temp - self.temp_mean) + rng.gauss(0, 0.08)
        ph = self.ph_mean + 0.2 * daylight + rng.gauss(0, 0.02)
        ec = self.ec_mean * (1 + rng.gauss(0, 0.01))
        turbidity = max(0.1, self.turbidity_mean * math.exp(rng.gauss(0, 0.1)))
        if faults:
            hours = (time.monotonic() - self.started) / 3600.0
            do -= self.drift_per_hour * hours * 3600  # compressed: a simulated minute is an hour of drift
            if rng.random() < 0.01:
                turbidity *= rng.uniform(5, 20)  # spike
            if self.stuck_value is not None:
                do = self.stuck_value
        return {
            "temp_c": round(temp, 2),
            "do_mg_l": round(max(0.0, do), 2),
            "ph": round(ph, 2),
            "ec_us_cm": round(ec, 1),
            "turbidity_ntu": round(turbidity, 1),
        }

    def message(self, at: datetime, faults: bool = False) -> bytes:
        self.seq += 1
        payload = {
            "ts": at.isoformat(timespec="milliseconds"),
            "values": self.values(at, faults),
            "sensor_id": f"{self.station_id}-sonde",
            "seq": self.seq,
        }
        return json.dumps(payload, separators=(",", ":")).encode()


def reading_payload(station_id: str, at: datetime, values: dict[str, float], seq: int | None = None) -> bytes:
    document: dict = {"ts": at.isoformat(), "values": values}
    if seq is not None:
        document["seq"] = seq
    return json.dumps(document, separators=(",", ":")).encode()


def malformed_payload(rng: random.Random, now: datetime) -> tuple[str, bytes]:
    """One payload that the bridge MUST reject, and which kind it is (for tests and --faults).

    Covers what breaks real pipelines: garbage bytes, truncated JSON, wrong shapes and types, NaN/Infinity,
    timestamps without offset or in the future, unknown parameters, booleans as numbers, huge payloads, deep
    nesting, invalid UTF-8.
    """
    good = {"ts": now.isoformat(), "values": {"do_mg_l": 7.1, "ph": 7.4}, "seq": 1}
    kind = rng.choice(
        [
            "random_bytes",
            "truncated",
            "not_object",
            "missing_ts",
            "missing_values",
            "ts_number",
            "ts_no_offset",
            "ts_future",
            "ts_garbage",
            "values_list",
            "values_empty",
            "value_string",
            "value_bool",
            "value_null",
            "value_nan",
            "value_inf",
            "unknown_parameter",
            "extra_key",
            "seq_bad",
            "sensor_id_bad",
            "huge",
            "deep",
            "bad_utf8",
            "unit_mismatch",
            "empty",
        ]
    )
    doc = json.loads(json.dumps(good))
    if kind == "random_bytes":
        return kind, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    if kind == "truncated":
        text = json.dumps(good)
        return kind, text[: rng.randint(1, len(text) - 1)].encode()
    if kind == "not_object":
        return kind, json.dumps(rng.choice([[1, 2], "text", 42, None, True])).encode()
    if kind == "missing_ts":
        del doc["ts"]
    elif kind == "missing_values":
        del doc["values"]
    elif kind == "ts_number":
        doc["ts"] = rng.randint(0, 2**40)
    elif kind == "ts_no_offset":
        doc["ts"] = now.replace(tzinfo=None).isoformat()
    elif kind == "ts_future":
        doc["ts"] = (now + timedelta(days=rng.randint(1, 3650))).isoformat()
    elif kind == "ts_garbage":
        doc["ts"] = rng.choice(["yesterday", "2024-13-45T99:00:00Z", "", "2024-01-01"])
    elif kind == "values_list":
        doc["values"] = [7.1, 7.4]
    elif kind == "values_empty":
        doc["values"] = {}
    elif kind == "value_string":
        doc["values"]["do_mg_l"] = "7.1"
    elif kind == "value_bool":
        doc["values"]["ph"] = True
    elif kind == "value_null":
        doc["values"]["ph"] = None
    elif kind == "value_nan":
        return kind, json.dumps(good).replace("7.1", rng.choice(["NaN", "Infinity", "-Infinity"])).encode()
    elif kind == "value_inf":
        doc["values"]["do_mg_l"] = 1e300
    elif kind == "unknown_parameter":
        doc["values"][rng.choice(["dissolved_oxygen", "DO", "ph_units", "x" * 300])] = 1.0
    elif kind == "extra_key":
        doc["station"] = "somewhere"
    elif kind == "seq_bad":
        doc["seq"] = rng.choice([-1, 1.5, "7", True, 2**70])
    elif kind == "sensor_id_bad":
        doc["sensor_id"] = rng.choice([12, "", "a\nb", "x" * 500])
    elif kind == "huge":
        doc["values"]["do_mg_l"] = 7.0
        return kind, (json.dumps(doc)[:-1] + ',"pad":"' + "x" * 20_000 + '"}').encode()
    elif kind == "deep":
        return kind, b'{"ts":' + b"[" * 5000 + b"]" * 5000 + b"}"
    elif kind == "bad_utf8":
        return kind, b'{"ts":"\xff\xfe","values":{"do_mg_l":7.1}}'
    elif kind == "unit_mismatch":
        doc["units"] = {"do_mg_l": "ppm"}
    elif kind == "empty":
        return kind, b""
    return kind, json.dumps(doc).encode()


@dataclass
class SimulatorConfig:
    database_url: str
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    stations: int = 10
    rate: float = 10.0
    duration_s: float = 60.0
    faults: bool = False
    topic_root: str = "purehealth/v1"
    seed: int | None = None
    heartbeat_every_s: float = 30.0


def registered_stations(url: str, limit: int) -> list[str]:
    """The first `limit` active stations of ref.stations (IOT network first)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT station_id FROM ref.stations WHERE active"
            " ORDER BY (network <> 'IOT'), station_id LIMIT %s",
            (limit,),
        ).fetchall()
    return [r[0] for r in rows]


def run_simulator(config: SimulatorConfig) -> int:
    import paho.mqtt.client as mqtt
    from tqdm import tqdm

    stations = registered_stations(config.database_url, config.stations)
    if not stations:
        log.error("ref.stations is empty: load the registry first (the stations asset, or insert rows)")
        return 1
    models = [StationModel.create(s, config.seed) for s in stations]
    rng = random.Random(config.seed)
    if config.faults:
        for model in rng.sample(models, max(1, len(models) // 10)):
            model.drift_per_hour = 0.5 / 3600
        for model in rng.sample(models, max(1, len(models) // 10)):
            model.stuck_value = round(model.do_mean, 2)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"purehealth-sim-{rng.getrandbits(32):08x}",
        protocol=mqtt.MQTTv5,
    )
    client.max_inflight_messages_set(0)
    client.connect(config.mqtt_host, config.mqtt_port)
    client.loop_start()
    log.info(
        "simulating %d stations at %.1f msg/s for %.0fs (faults: %s)",
        len(models),
        config.rate,
        config.duration_s,
        config.faults,
    )
    interval = 1.0 / config.rate if config.rate > 0 else 1.0
    started = time.monotonic()
    next_heartbeat = {m.station_id: started for m in models}
    sent = malformed = 0
    last = None
    total = int(config.duration_s * config.rate)
    with tqdm(total=total, unit="msg", desc="publishing") as bar:
        index = 0
        while sent < total:
            target = started + sent * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_mono = time.monotonic()
            model = models[index % len(models)]
            index += 1
            at = datetime.now(UTC)
            base = f"{config.topic_root}/stations/{model.station_id}"
            if now_mono >= next_heartbeat[model.station_id]:
                next_heartbeat[model.station_id] = now_mono + config.heartbeat_every_s
                status = {
                    "ts": at.isoformat(),
                    "status": "online",
                    "battery_pct": round(rng.uniform(40, 100), 1),
                    "signal_dbm": rng.randint(-95, -55),
                }
                client.publish(f"{base}/status", json.dumps(status), qos=1)
            if config.faults and now_mono < model.silent_until:
                sent += 1
                bar.update(1)
                continue  # dropout: the station is silent
            if config.faults and rng.random() < 0.001:
                model.silent_until = now_mono + rng.uniform(5, 30)
            if config.faults and rng.random() < 0.01:
                _, payload = malformed_payload(rng, at)
                malformed += 1
            else:
                payload = model.message(at, config.faults)
            last = client.publish(f"{base}/readings", payload, qos=1)
            sent += 1
            bar.update(1)
    if last is not None:
        last.wait_for_publish(timeout=30)  # QoS 1 acks arrive in order: the last one means all are in
    client.loop_stop()
    client.disconnect()
    log.info("published %d messages (%d malformed) for %d stations", sent, malformed, len(models))
    return 0
