"""Pure validation of MQTT messages against the contract (docs/contracts.md §7). No I/O, no clock reads.

Why strict: everything that lands in raw.sensor_readings is trusted downstream (QARTOD scoring, alerts,
WebSocket clients), so a message is accepted whole or rejected whole, with a reason an operator can act on.
Plausibility (a pH of 15) is NOT judged here: that is QARTOD's gross-range test in the quality domain; the
bridge only rejects what cannot be a reading at all (not a number, unknown station/parameter, no offset,
a timestamp in the future).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

try:  # orjson is ~3x faster on small payloads; optional (not a declared dependency yet).
    import orjson as _orjson

    def _loads(payload: bytes) -> object:
        return _orjson.loads(payload)

    _DECODE_ERRORS: tuple[type[Exception], ...] = (_orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

    def _reject_constant(name: str) -> float:
        raise ValueError(f"non-finite number {name}")

    def _loads(payload: bytes) -> object:
        return json.loads(payload, parse_constant=_reject_constant)

    _DECODE_ERRORS = (ValueError, UnicodeDecodeError, RecursionError)

TOPIC_PREFIX = "purehealth/v1/stations/"
READINGS_SUFFIX = "/readings"
STATUS_SUFFIX = "/status"
MAX_PAYLOAD_BYTES = 16_384
MAX_VALUES = 64
MAX_ID_CHARS = 128
MAX_ABS_VALUE = 1e12  # beyond any water-quality magnitude; stops 1e308 from reaching rollups
EARLIEST_TS = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
DEFAULT_MAX_FUTURE = timedelta(minutes=5)  # sensor clocks drift; more than this is a broken clock
_ALLOWED_READING_KEYS = frozenset({"ts", "values", "sensor_id", "seq", "units"})
_ALLOWED_STATUS_KEYS = frozenset(
    {"ts", "status", "battery_pct", "battery_v", "signal_dbm", "rssi", "sensor_id", "firmware", "uptime_s"}
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


LIVE_NETWORK = "IOT"  # ref.stations.network of stations with a live sensor


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the bridge knows: registered stations, parameter code -> unit (ref.stations, ref.parameters)."""

    stations: frozenset[str]
    units: dict[str, str]
    topic_prefix: str = TOPIC_PREFIX  # tests and staging brokers may root the tree elsewhere
    # Stations that have a sensor (ref.stations.network = LIVE_NETWORK): only these may publish. A lab-only
    # station (NWMP, MPCB, CWC) is known but has no sensor, so a message for it is forged or misaddressed.
    # None = every registered station (catalogs built by hand in tests of other rules).
    live_stations: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted readings message (a message carries several parameters at one instant)."""

    station_id: str
    ts: datetime
    values: dict[str, float]
    sensor_id: str | None
    seq: int | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One accepted status message; battery/signal are None when the sensor does not report them."""

    station_id: str
    ts: datetime
    status: str | None
    battery_pct: float | None
    signal_dbm: float | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was refused; `reason` is a short stable code, `detail` the human explanation."""

    reason: str
    detail: str


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def station_from_topic(topic: str, prefix: str = TOPIC_PREFIX) -> tuple[str, str] | None:
    """`purehealth/v1/stations/{id}/{kind}` -> (id, kind) for kind readings|status, else None."""
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :]
    station_id, sep, kind = rest.partition("/")
    if not sep or not station_id or kind not in ("readings", "status"):
        return None
    return station_id, kind


def _decode(payload: bytes) -> dict:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _Invalid("payload_too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        document = _loads(payload)
    except _DECODE_ERRORS as exc:
        raise _Invalid("invalid_json", str(exc)[:200]) from None
    if not isinstance(document, dict):
        raise _Invalid("not_an_object", f"top level is {type(document).__name__}, expected an object")
    return document


def parse_timestamp(value: object, now: datetime, max_future: timedelta = DEFAULT_MAX_FUTURE) -> datetime:
    """ISO-8601 with an explicit UTC offset, not before 2000, not more than `max_future` ahead of `now`."""
    if not isinstance(value, str):
        raise _Invalid("bad_timestamp", f"ts must be an ISO-8601 string, got {type(value).__name__}")
    if len(value) > 40 or ("T" not in value and " " not in value):
        raise _Invalid("bad_timestamp", f"ts {value[:60]!r} is not an ISO-8601 date-time")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("bad_timestamp", f"ts {value[:60]!r} is not ISO-8601") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise _Invalid("timestamp_without_offset", f"ts {value!r} has no UTC offset")
    if ts > now + max_future:
        raise _Invalid(
            "timestamp_in_future", f"ts {value!r} is more than {max_future} ahead of {now.isoformat()}"
        )
    if ts < EARLIEST_TS:
        raise _Invalid("timestamp_too_old", f"ts {value!r} is before {EARLIEST_TS.date()}")
    return ts


def _number(value: object, where: str) -> float:
    # bool is an int subclass in Python: true/false are not measurements.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid("value_not_a_number", f"{where} is {type(value).__name__}, expected a number")
    number = float(value) if isinstance(value, float) else _int_to_float(value, where)
    if not math.isfinite(number) or abs(number) > MAX_ABS_VALUE:
        raise _Invalid("value_out_of_bounds", f"{where} = {value!r} is not a finite number within ±1e12")
    return number


def _int_to_float(value: int, where: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise _Invalid("value_out_of_bounds", f"{where} is an integer too large for a double") from None


def _optional_id(document: dict, key: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise _Invalid(f"bad_{key}", f"{key} must be a printable string of 1-{MAX_ID_CHARS} characters")
    return value


def _known_station(topic: str, catalog: Catalog, kind: str) -> str:
    parsed = station_from_topic(topic, catalog.topic_prefix)
    if parsed is None or parsed[1] != kind:
        raise _Invalid("bad_topic", f"topic {topic[:200]!r} is not purehealth/v1/stations/<id>/{kind}")
    station_id = parsed[0]
    if station_id not in catalog.stations:
        raise _Invalid("unknown_station", f"station {station_id[:200]!r} is not in ref.stations")
    if catalog.live_stations is not None and station_id not in catalog.live_stations:
        raise _Invalid(
            "not_a_live_station",
            f"station {station_id!r} has no live sensor (only {LIVE_NETWORK} stations may publish)",
        )
    return station_id


def validate_reading(
    topic: str, payload: bytes, catalog: Catalog, now: datetime, max_future: timedelta = DEFAULT_MAX_FUTURE
) -> Reading | Rejection:
    """Accept or reject one message on `purehealth/v1/stations/{id}/readings`; never raises."""
    try:
        station_id = _known_station(topic, catalog, "readings")
        document = _decode(payload)
        extra = document.keys() - _ALLOWED_READING_KEYS
        if extra:
            raise _Invalid("unexpected_keys", f"unexpected keys {sorted(map(str, extra))[:10]}")
        if "ts" not in document or "values" not in document:
            raise _Invalid("missing_keys", "payload needs 'ts' and 'values'")
        ts = parse_timestamp(document["ts"], now, max_future)
        raw_values = document["values"]
        if not isinstance(raw_values, dict) or not raw_values:
            raise _Invalid("bad_values", "values must be a non-empty object {parameter code: number}")
        if len(raw_values) > MAX_VALUES:
            raise _Invalid("bad_values", f"{len(raw_values)} values > {MAX_VALUES}")
        units = catalog.units
        values: dict[str, float] = {}
        for code, value in raw_values.items():
            if code not in units:
                raise _Invalid("unknown_parameter", f"parameter {str(code)[:100]!r} is not in ref.parameters")
            # Fast path for the common case (a finite float in range; NaN fails the comparison): profiled,
            # the generic check was a third of the validation cost.
            if type(value) is float and -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
                values[code] = value
            else:
                values[code] = _number(value, f"values.{code}")
        declared_units = document.get("units")
        if declared_units is not None:
            if not isinstance(declared_units, dict):
                raise _Invalid("bad_units", "units must be an object {parameter code: unit}")
            for code, unit in declared_units.items():
                if code not in values or unit != units[code]:
                    raise _Invalid(
                        "unit_mismatch",
                        f"unit {str(unit)[:40]!r} for {str(code)[:60]!r}; expected {units.get(code)!r}",
                    )
        seq = document.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63):
            raise _Invalid("bad_seq", "seq must be a non-negative 64-bit integer")
        return Reading(station_id, ts, values, _optional_id(document, "sensor_id"), seq)
    except _Invalid as exc:
        return Rejection(exc.reason, exc.detail)
    except Exception as exc:
        return Rejection("unexpected_error", f"{type(exc).__name__}: {exc}"[:300])


def _optional_number(document: dict, *keys: str) -> float | None:
    for key in keys:
        if document.get(key) is not None:
            return _number(document[key], key)
    return None


def validate_status(
    topic: str, payload: bytes, catalog: Catalog, now: datetime, max_future: timedelta = DEFAULT_MAX_FUTURE
) -> Heartbeat | Rejection:
    """Accept or reject one heartbeat on `purehealth/v1/stations/{id}/status`; never raises.

    A heartbeat is `{"ts": ..., "status": "online", "battery_pct": 87, "signal_dbm": -71}`; every field but
    `ts` is optional. An empty payload or a bare string (what many firmwares send as last will) counts
    as a heartbeat at `now` with that status.
    """
    try:
        station_id = _known_station(topic, catalog, "status")
        stripped = payload.strip()
        if not stripped.startswith(b"{"):
            text = stripped.decode("utf-8", errors="strict") if stripped else "online"
            if len(text) > 32 or not _SAFE_ID.match(text):
                raise _Invalid("bad_status", f"status {text[:40]!r} is not a short word or a JSON object")
            return Heartbeat(station_id, now, text, None, None)
        document = _decode(stripped)
        extra = document.keys() - _ALLOWED_STATUS_KEYS
        if extra:
            raise _Invalid("unexpected_keys", f"unexpected keys {sorted(map(str, extra))[:10]}")
        ts = parse_timestamp(document["ts"], now, max_future) if "ts" in document else now
        status = document.get("status")
        if status is not None and (not isinstance(status, str) or not _SAFE_ID.match(status)):
            raise _Invalid("bad_status", "status must be a short word")
        return Heartbeat(
            station_id,
            ts,
            status,
            _optional_number(document, "battery_pct"),
            _optional_number(document, "signal_dbm", "rssi"),
        )
    except _Invalid as exc:
        return Rejection(exc.reason, exc.detail)
    except Exception as exc:
        return Rejection("unexpected_error", f"{type(exc).__name__}: {exc}"[:300])
