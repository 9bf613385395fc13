"""Realistic IoT sensor traffic for registered stations, with injected faults, and a payload fuzzer.

The physics is deliberately simple but shaped like real river sondes (see docs/water_quality.md):
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

import paho.mqtt.client as mqtt

from purehealth_pipelines import settings
from realtime_bridge.mqtt_auth import StationPublisher

log = logging.getLogger("realtime_bridge.simulator")

IST = timedelta(hours=5, minutes=30)
PARAMETERS = ("temp_c", "do_mg_l", "ph", "ec_us_cm", "turbidity_ntu")


DEFAULT_TOPIC_ROOT = "purehealth/v1"
DEFAULT_SEED = 42  # the demo's sensor history and the live simulator share it, so live continues history
DO_DROP_SECONDS = 90.0  # how long an injected DO drop (anoxia event) lasts


@dataclass
class StationModel:
    """One station's sonde: levels fixed by (seed, station_id), so history and live traffic agree.

    The levels come from their own generator, drawn once from the seed and the station id; noise and faults
    from another. So a station's live readings continue the history the demo seeded (same level, same
    diurnal phase, same noise) whatever was drawn before, and clean simulated data stays clean.
    """

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
    do_drop_until: float = 0.0
    spike_probability: float = 0.01
    started: float = field(default_factory=time.monotonic)
    last_faults: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, station_id: str, seed: int | None = DEFAULT_SEED) -> StationModel:
        levels = random.Random(f"{seed}:{station_id}:levels" if seed is not None else None)
        return cls(
            station_id=station_id,
            rng=random.Random(f"{seed}:{station_id}:noise" if seed is not None else None),
            temp_mean=levels.uniform(24.0, 30.0),
            do_mean=levels.uniform(5.0, 8.0),
            ph_mean=levels.uniform(7.2, 8.2),
            ec_mean=levels.uniform(250.0, 900.0),
            turbidity_mean=levels.uniform(5.0, 60.0),
        )

    def clean_values(self, at: datetime) -> dict[str, float]:
        """What a healthy sonde reads at `at`: diurnal cycles plus sensor noise."""
        local_hour = ((at + IST).hour + (at + IST).minute / 60.0 + (at + IST).second / 3600.0) % 24
        daylight = math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)  # peaks at 15:00 IST
        rng = self.rng
        temp = self.temp_mean + 1.5 * daylight + rng.gauss(0, 0.05)
        # DO: photosynthesis peak late afternoon, solubility falls ~0.2 mg/L per °C (Benson & Krause 1984).
        do = self.do_mean + 1.5 * daylight - 0.2 * (temp - self.temp_mean) + rng.gauss(0, 0.08)
        ph = self.ph_mean + 0.2 * daylight + rng.gauss(0, 0.02)
        ec = self.ec_mean * (1 + rng.gauss(0, 0.01))
        turbidity = max(0.1, self.turbidity_mean * math.exp(rng.gauss(0, 0.1)))
        return {"temp_c": temp, "do_mg_l": do, "ph": ph, "ec_us_cm": ec, "turbidity_ntu": turbidity}

    def values(self, at: datetime, faults: bool, now_mono: float | None = None) -> dict[str, float]:
        """Readings at `at`; with `faults`, injected ones are named in `last_faults` (parameter -> kind)."""
        values = self.clean_values(at)
        self.last_faults = {}
        if faults:
            now_mono = time.monotonic() if now_mono is None else now_mono
            rng = self.rng
            if self.drift_per_hour:
                hours = (now_mono - self.started) / 3600.0
                values["do_mg_l"] -= self.drift_per_hour * hours  # a fouling membrane reads ever lower
                self.last_faults["do_mg_l"] = "drift"
            if rng.random() < self.spike_probability:
                values["turbidity_ntu"] *= rng.uniform(5, 20)
                self.last_faults["turbidity_ntu"] = "spike"
            if self.stuck_value is not None:
                values["do_mg_l"] = self.stuck_value
                self.last_faults["do_mg_l"] = "stuck"
            if now_mono < self.do_drop_until:
                values["do_mg_l"] = rng.uniform(0.8, 2.0)  # anoxia: what an operator must be told about
                self.last_faults["do_mg_l"] = "do_drop"
        return {
            "temp_c": round(values["temp_c"], 2),
            "do_mg_l": round(max(0.0, values["do_mg_l"]), 2),
            "ph": round(values["ph"], 2),
            "ec_us_cm": round(values["ec_us_cm"], 1),
            "turbidity_ntu": round(values["turbidity_ntu"], 1),
        }

    def message(self, at: datetime, faults: bool = False, now_mono: float | None = None) -> bytes:
        self.seq += 1
        payload = {
            "ts": at.isoformat(timespec="milliseconds"),
            "values": self.values(at, faults, now_mono),
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
    seed: int | None = DEFAULT_SEED
    heartbeat_every_s: float = 30.0
    do_drop_every_s: float = 600.0  # with faults: one station's DO falls to anoxic levels this often
    fault_log: str | None = None  # with faults: JSON lines {station_id, ts, parameter, fault} per injection
    stations_only: tuple[str, ...] = ()  # simulate exactly these stations instead of the first N
    # Broker login. None: on the real tree (purehealth/v1) each simulated station gets its own sensor
    # credential (issued in the warehouse as sensor "sim", like a real device); elsewhere (test/, bench/)
    # the tools credential from settings.
    mqtt_credential: tuple[str, str] | None = None


def _publisher(config: SimulatorConfig, stations: list[str], client_id: str) -> StationPublisher:
    """Connect the way the broker's ACLs demand (see SimulatorConfig.mqtt_credential)."""
    host, port = config.mqtt_host, config.mqtt_port
    if config.mqtt_credential is None and config.topic_root == DEFAULT_TOPIC_ROOT:
        from purehealth_pipelines.devices import registry

        issued = registry.provision(config.database_url, stations, sensor_id="sim")
        return StationPublisher(host, port, client_id, per_station=issued)
    credential = config.mqtt_credential or settings.mqtt_tools_credentials()
    return StationPublisher(host, port, client_id, shared=credential)


def _fault_lines(model: StationModel, at: datetime) -> list[str]:
    return [
        json.dumps({"station_id": model.station_id, "ts": at.isoformat(timespec="milliseconds"),
                    "parameter": parameter, "fault": kind})
        for parameter, kind in model.last_faults.items()
    ]  # fmt: skip


def registered_stations(url: str, limit: int) -> list[str]:
    """The first `limit` active live-sensor stations of ref.stations (only those may publish)."""
    import psycopg

    from realtime_bridge.validation import LIVE_NETWORK

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT station_id FROM ref.stations WHERE active AND network = %s ORDER BY station_id LIMIT %s",
            (LIVE_NETWORK, limit),
        ).fetchall()
    return [r[0] for r in rows]


def run_simulator(config: SimulatorConfig) -> int:
    from tqdm import tqdm

    stations = list(config.stations_only) or registered_stations(config.database_url, config.stations)
    if not stations:
        log.error("ref.stations has no live (IOT) station: load the registry first (the stations asset)")
        return 1
    models = [StationModel.create(s, config.seed) for s in stations]
    rng = random.Random(config.seed)
    if config.faults:
        for model in rng.sample(models, max(1, len(models) // 10)):
            model.drift_per_hour = 0.5  # mg/L per hour
        for model in rng.sample(models, max(1, len(models) // 10)):
            model.stuck_value = round(model.do_mean, 2)
    client = _publisher(config, stations, f"purehealth-sim-{rng.getrandbits(32):08x}")
    log.info(
        "simulating %d stations at %.1f msg/s for %.0fs (faults: %s)",
        len(models),
        config.rate,
        config.duration_s,
        config.faults,
    )
    interval = 1.0 / config.rate if config.rate > 0 else 1.0
    started = time.monotonic()
    fault_log = open(config.fault_log, "a", encoding="utf-8") if config.faults and config.fault_log else None  # noqa: SIM115
    next_do_drop = started + min(config.do_drop_every_s, config.duration_s / 2)
    next_heartbeat = {m.station_id: started for m in models}
    sent = malformed = 0
    last: dict[str, mqtt.MQTTMessageInfo] = {}
    total = int(config.duration_s * config.rate)
    # disable=None: a bar on a terminal, nothing in a log file (one line per update there)
    with tqdm(total=total, unit="msg", desc="publishing", disable=None) as bar:
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
                client.publish(model.station_id, f"{base}/status", json.dumps(status), qos=1)
            if config.faults and now_mono < model.silent_until:
                sent += 1
                bar.update(1)
                continue  # dropout: the station is silent
            if config.faults and rng.random() < 0.001:
                model.silent_until = now_mono + rng.uniform(5, 30)
            if config.faults and now_mono >= next_do_drop:
                next_do_drop = now_mono + config.do_drop_every_s
                victim = rng.choice(
                    [m for m in models if m.stuck_value is None and not m.drift_per_hour] or models
                )
                victim.do_drop_until = now_mono + DO_DROP_SECONDS
                log.info("injecting a DO drop at %s for %.0f s", victim.station_id, DO_DROP_SECONDS)
            if config.faults and rng.random() < 0.01:
                _, payload = malformed_payload(rng, at)
                malformed += 1
            else:
                payload = model.message(at, config.faults, now_mono)
                if fault_log is not None and model.last_faults:
                    fault_log.write("\n".join(_fault_lines(model, at)) + "\n")
                    fault_log.flush()
            last[model.station_id] = client.publish(model.station_id, f"{base}/readings", payload, qos=1)
            sent += 1
            bar.update(1)
    for info in last.values():
        info.wait_for_publish(timeout=30)  # QoS 1 acks arrive in order per connection: the last means all
    client.close()
    if fault_log is not None:
        fault_log.close()
    log.info("published %d messages (%d malformed) for %d stations", sent, malformed, len(models))
    return 0
