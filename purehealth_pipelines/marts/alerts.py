"""Alert rules (pure) and the alert state machine (pure) behind mart.alerts, plus its transactional write.

Rules turn readings into *evaluations* — (station, parameter, rule, ts, breached?) — vectorised per rule.
The state machine then walks the evaluations of each (station, parameter, rule) in time order against
the alert already stored for that key:
* breach, alert open                      -> extend it (last_seen, breach_count, worst value);
* breach, resolved within the cooldown     -> re-open the same alert (one event, one alert);
* breach, otherwise                        -> a new alert;
* recovered reading, alert open, and at least `cooldown` since the last breach -> resolve it.
Evaluations at or before what the stored alert has already seen are skipped, so re-running a partition
changes nothing. Only keys with a breach or an open alert are walked: a handful per day, not 173 k rows.
Forecast breaches (evaluate_forecasts) enter the same machine: one evaluation per station, parameter and
forecast rule, at the latest forecast issue's issued_at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import yaml
from psycopg.rows import dict_row

from purehealth_pipelines.alerts.outbox import write_owed
from purehealth_pipelines.alerts.routing import Transition
from purehealth_pipelines.forecasting.publish import ALERT_RULES as FORECAST_SOURCE_RULES
from purehealth_pipelines.indices.best_use import cpcb_criterion
from purehealth_pipelines.live.channels import (
    ALERT_MESSAGE_FIELDS,
    EVENTS_CHANNEL,
    alert_message,
    load_secret,
    seal,
)
from purehealth_pipelines.vocabulary import CANONICAL_UNITS

SEVERITIES = ("info", "warning", "critical")
STATION_LEVEL = "*"


@dataclass(frozen=True)
class AlertRules:
    version: str
    cooldown: pd.Timedelta
    threshold_rules: list[dict[str, Any]]
    jump_rules: list[dict[str, Any]]
    offline_after: pd.Timedelta
    offline_severity: str
    offline_sources: tuple[str, ...]
    forecast_rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parameters(self) -> list[str]:
        return sorted({r["parameter"] for r in self.threshold_rules + self.jump_rules})

    @property
    def forecast_parameters(self) -> list[str]:
        return sorted({r["parameter"] for r in self.forecast_rules})


def load_rules(path: str | Path | None = None) -> AlertRules:
    """The alert rules, checked as they load: a typo in the YAML is an error naming the rule, not a rule that
    silently never fires."""
    if path is None:
        text = (resources.files("purehealth_pipelines.marts") / "alert_rules.yaml").read_text()
    else:
        text = Path(path).read_text()
    raw = yaml.safe_load(text)
    _check_keys("alert rules", raw, required={"version", "threshold_rules"}, optional=_TOP_LEVEL_KEYS)
    threshold_rules = [_threshold_rule(rule) for rule in raw.get("threshold_rules") or []]
    jump_rules = [_jump_rule(rule) for rule in raw.get("jump_rules") or []]
    forecast_rules = [_forecast_rule(rule) for rule in raw.get("forecast_rules") or []]
    names = [rule["rule"] for rule in threshold_rules + forecast_rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"alert rules: rule names must be unique, repeated: {duplicated}")
    offline = raw.get("sensor_offline") or {}
    _check_keys("sensor_offline", offline, required=set(), optional={"after_minutes", "severity", "sources"})
    _check_severity("sensor_offline", offline.get("severity", "warning"))
    return AlertRules(
        version=str(raw["version"]),
        cooldown=pd.Timedelta(minutes=float(raw.get("cooldown_minutes", 60))),
        threshold_rules=threshold_rules,
        jump_rules=jump_rules,
        offline_after=pd.Timedelta(minutes=float(offline.get("after_minutes", 120))),
        offline_severity=offline.get("severity", "warning"),
        offline_sources=tuple(offline.get("sources", ["iot"])),
        forecast_rules=forecast_rules,
    )


_TOP_LEVEL_KEYS = {
    "version",
    "cooldown_minutes",
    "threshold_rules",
    "jump_rules",
    "sensor_offline",
    "forecast_rules",
}
_LIMIT_KEYS = ("cpcb_class", "below", "above", "outside")


def _check_keys(what: str, rule: Mapping[str, Any], *, required: set[str], optional: set[str]) -> None:
    if not isinstance(rule, Mapping):
        raise ValueError(f"{what}: expected a mapping, got {rule!r}")
    missing = sorted(required - set(rule))
    unknown = sorted(set(rule) - required - optional)
    if missing or unknown:
        raise ValueError(f"{what}: missing {missing} / unknown {unknown} keys")


def _check_severity(what: str, severity: str) -> None:
    if severity not in SEVERITIES:
        raise ValueError(f"{what}: severity must be one of {SEVERITIES}, not {severity!r}")


def _check_parameter(what: str, parameter: str) -> None:
    if parameter not in CANONICAL_UNITS:
        raise ValueError(f"{what}: unknown parameter {parameter!r} (see purehealth_pipelines/vocabulary.py)")


def _threshold_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """Check a threshold rule; a `cpcb_class` limit becomes below/above/outside from the CPCB table."""
    what = f"threshold rule {rule.get('rule')!r}"
    _check_keys(what, rule, required={"rule", "parameter", "severity", "text"}, optional=set(_LIMIT_KEYS))
    _check_parameter(what, rule["parameter"])
    _check_severity(what, rule["severity"])
    limits = [key for key in _LIMIT_KEYS if key in rule]
    if len(limits) != 1:
        raise ValueError(f"{what}: needs exactly one of {list(_LIMIT_KEYS)}, has {limits}")
    if "cpcb_class" not in rule:
        Criterion.of_rule(rule)  # raises on a malformed limit
        return dict(rule)
    try:
        cpcb = cpcb_criterion(str(rule["cpcb_class"]), rule["parameter"])
    except KeyError as exc:
        raise ValueError(f"{what}: {exc.args[0]}") from exc
    resolved = {key: value for key, value in rule.items() if key != "cpcb_class"}
    if cpcb.minimum is not None and cpcb.maximum is not None:
        resolved["outside"] = [cpcb.minimum, cpcb.maximum]
    elif cpcb.minimum is not None:
        resolved["below"] = cpcb.minimum
    else:
        resolved["above"] = cpcb.maximum
    return resolved


def _jump_rule(rule: dict[str, Any]) -> dict[str, Any]:
    what = f"jump rule on {rule.get('parameter')!r}"
    _check_keys(
        what, rule, required={"rule", "parameter", "max_step", "within_minutes", "severity"}, optional=set()
    )
    _check_parameter(what, rule["parameter"])
    _check_severity(what, rule["severity"])
    if not float(rule["max_step"]) > 0 or not float(rule["within_minutes"]) > 0:
        raise ValueError(f"{what}: max_step and within_minutes must be positive")
    return dict(rule)


def _forecast_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """Complete a forecast rule with parameter, op and threshold from the forecasting domain's rule.

    The forecasting domain decides what a breaching forecast is (it writes mart.forecast_alerts); the YAML
    only names which of its rules become mart.alerts rules, so the two can never disagree on a threshold.
    """
    what = f"forecast rule {rule.get('rule')!r}"
    _check_keys(what, rule, required={"rule", "source_rule", "severity", "text"}, optional={"within_hours"})
    _check_severity(what, rule["severity"])
    source = {r["rule"]: r for r in FORECAST_SOURCE_RULES}.get(rule.get("source_rule"))
    if source is None:
        known = [r["rule"] for r in FORECAST_SOURCE_RULES]
        raise ValueError(f"forecast rule {rule.get('rule')}: source_rule must be one of {known}")
    return {
        **rule,
        "parameter": source["parameter"],
        "op": source["op"],
        "limit": float(source["threshold"]),
        "within_hours": float(rule.get("within_hours", 24)),
    }


@dataclass(frozen=True)
class Criterion:
    """A rule's limits as numbers: breached below `low` or above `high` (either may be absent).

    `below: 4` is Criterion(low=4); `above: 3` is Criterion(high=3); `outside: [6.5, 8.5]` is both. The
    state machine ranks values by how far beyond the limits they are (`excess`), so "worst" has one meaning
    for every rule kind.
    """

    low: float | None = None
    high: float | None = None
    label: str = ""

    @classmethod
    def of_rule(cls, rule: Mapping[str, Any]) -> Criterion:
        if "below" in rule:
            return cls(low=float(rule["below"]), label=f"< {float(rule['below']):g}")
        if "above" in rule:
            return cls(high=float(rule["above"]), label=f"> {float(rule['above']):g}")
        if "outside" in rule:
            low, high = (float(limit) for limit in rule["outside"])
            return cls(low=low, high=high, label=f"outside {low:g}–{high:g}")
        raise ValueError(f"rule {rule.get('rule')}: needs one of below / above / outside")

    @property
    def low_or_nan(self) -> float:
        return np.nan if self.low is None else self.low

    @property
    def high_or_nan(self) -> float:
        return np.nan if self.high is None else self.high

    def breached(self, values: np.ndarray) -> np.ndarray:
        """Elementwise breach (NaN never breaches)."""
        return self.excess(values) > 0

    def excess(self, values: Any) -> Any:
        """How far beyond the limits (> 0 breached; larger is worse)."""
        values = np.asarray(values, dtype=float)
        low = self.low_or_nan - values
        high = values - self.high_or_nan
        return np.fmax(np.where(np.isnan(low), -np.inf, low), np.where(np.isnan(high), -np.inf, high))


EVALUATION_COLUMNS = [
    "station_id",
    "parameter",
    "rule",
    "severity",
    "ts",
    "value",
    "breached",
    "threshold",
    "text",
    "limit_low",
    "limit_high",
]


def evaluate_rules(readings: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    """Readings (station_id, parameter, ts, value, qc_flag) -> one evaluation row per reading and rule.

    Threshold rules use qc_flag 1 or 3; jumps compare consecutive usable readings of a series.
    """
    usable = readings[readings["qc_flag"].isin([1, 3]) & readings["value"].notna()]
    usable = usable.sort_values(["station_id", "parameter", "ts"])
    parts = []
    for rule in rules.threshold_rules:
        rows = usable[usable["parameter"] == rule["parameter"]]
        if rows.empty:
            continue
        criterion = Criterion.of_rule(rule)
        values = rows["value"].to_numpy(dtype=float)
        parts.append(_evaluations(rows, rule, criterion.breached(values), criterion))
    for rule in rules.jump_rules:
        rows = usable[usable["parameter"] == rule["parameter"]]
        if rows.empty:
            continue
        # A jump rule judges the step from the previous reading, so the step is the value it reports.
        same_series = rows["station_id"].eq(rows["station_id"].shift())
        step = rows["value"].diff()
        close = rows["ts"].diff() <= pd.Timedelta(minutes=float(rule["within_minutes"]))
        criterion = Criterion(
            low=-float(rule["max_step"]), high=float(rule["max_step"]), label=f"step > {rule['max_step']}"
        )
        breached = (same_series & close).to_numpy() & criterion.breached(step.to_numpy(dtype=float))
        text = f"jump of more than {rule['max_step']} within {rule['within_minutes']} min"
        steps = rows.assign(value=step)
        parts.append(_evaluations(steps, {**rule, "text": text}, breached, criterion))
    if not parts:
        return pd.DataFrame(columns=EVALUATION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _evaluations(rows: pd.DataFrame, rule: dict, breached: np.ndarray, criterion: Criterion) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": rows["station_id"].to_numpy(),
            "parameter": rows["parameter"].to_numpy(),
            "rule": rule["rule"],
            "severity": rule["severity"],
            "ts": rows["ts"].to_numpy(),
            "value": rows["value"].to_numpy(dtype=float),
            "breached": breached,
            "threshold": criterion.label,
            "text": rule.get("text", rule["rule"]),
            "limit_low": criterion.low_or_nan,
            "limit_high": criterion.high_or_nan,
        }
    )


def evaluate_offline(last_seen: pd.DataFrame, as_of: pd.Timestamp, rules: AlertRules) -> pd.DataFrame:
    """Live stations (station_id, last_ts of their newest reading) -> one evaluation each at `as_of`."""
    if last_seen.empty:
        return pd.DataFrame(columns=EVALUATION_COLUMNS)
    silent_minutes = (as_of - pd.to_datetime(last_seen["last_ts"], utc=True)).dt.total_seconds() / 60.0
    return pd.DataFrame(
        {
            "station_id": last_seen["station_id"].to_numpy(),
            "parameter": STATION_LEVEL,
            "rule": "sensor_offline",
            "severity": rules.offline_severity,
            "ts": as_of,
            "value": silent_minutes.to_numpy(),
            "breached": (silent_minutes > rules.offline_after.total_seconds() / 60.0).to_numpy(),
            "threshold": f"silent > {rules.offline_after.total_seconds() / 60:.0f} min",
            "text": "sensor offline (no reading for {value:.0f} min)",
            "limit_low": np.nan,
            "limit_high": rules.offline_after.total_seconds() / 60.0,
        }
    )


FORECAST_KEYS = ["station_id", "parameter", "issued_at"]
FORECAST_COLUMNS = [*FORECAST_KEYS, "horizon_h", "ts", "p50"]


def _forecast_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns we need, with both time columns as UTC timestamps (empty input -> empty frame)."""
    out = frame.reindex(columns=columns)
    for column in ("issued_at", "ts"):
        out[column] = pd.to_datetime(out[column], utc=True)
    out["horizon_h"] = pd.to_numeric(out["horizon_h"])
    out["p50"] = pd.to_numeric(out["p50"], errors="coerce").astype(float)
    return out


def evaluate_forecasts(
    forecast_alerts: pd.DataFrame, forecasts: pd.DataFrame, rules: AlertRules
) -> pd.DataFrame:
    """Latest forecast issue per station/parameter -> one evaluation per forecast rule, at its issued_at.

    forecast_alerts: mart.forecast_alerts rows (station_id, parameter, rule, issued_at, horizon_h,
    forecast_ts, p50); forecasts: mart.forecasts rows (station_id, parameter, issued_at, horizon_h, ts, p50).
    Rows of older issues are ignored, so a breach is judged on the newest forecast only. An issue is
    breached when it has a forecast_alerts row of the rule's source_rule within `within_hours`; the value is
    then the worst breaching P50, else the P50 closest to the limit (what the operator would want to see).
    """
    hits_all = _forecast_frame(
        forecast_alerts.rename(columns={"forecast_ts": "ts"}), [*FORECAST_COLUMNS, "rule"]
    )
    plain_all = _forecast_frame(forecasts, FORECAST_COLUMNS)
    issues_all = pd.concat([plain_all[FORECAST_KEYS], hits_all[FORECAST_KEYS]], ignore_index=True)
    if issues_all.empty or not rules.forecast_rules:
        return pd.DataFrame(columns=EVALUATION_COLUMNS)
    latest = issues_all.groupby(["station_id", "parameter"], as_index=False)["issued_at"].max()
    parts = []
    for rule in rules.forecast_rules:
        issues = latest[latest["parameter"] == rule["parameter"]]
        within = rule["within_hours"]
        hits = hits_all[(hits_all["rule"] == rule["source_rule"]) & (hits_all["horizon_h"] <= within)]
        plain = plain_all[(plain_all["parameter"] == rule["parameter"]) & (plain_all["horizon_h"] <= within)]
        candidates = pd.concat(
            [
                hits[FORECAST_COLUMNS].merge(issues, on=FORECAST_KEYS).assign(hit=True),
                plain.merge(issues, on=FORECAST_KEYS).assign(hit=False),
            ],
            ignore_index=True,
        )
        if candidates.empty:
            continue
        # per issue: breaching rows first, then the most extreme P50 in the rule's direction, then the
        # earliest horizon (the soonest warning)
        candidates = candidates.sort_values(
            ["station_id", "hit", "p50", "horizon_h"],
            ascending=[True, False, rule["op"] == "lt", True],
            na_position="last",
        ).drop_duplicates("station_id")
        texts = [
            f"{rule['text']}, forecast for {ts.isoformat()} (+{int(h)} h)"
            for ts, h in zip(candidates["ts"], candidates["horizon_h"], strict=True)
        ]
        op = "<" if rule["op"] == "lt" else ">"
        parts.append(
            pd.DataFrame(
                {
                    "station_id": candidates["station_id"].to_numpy(),
                    "parameter": rule["parameter"],
                    "rule": rule["rule"],
                    "severity": rule["severity"],
                    "ts": candidates["issued_at"].to_numpy(),
                    "value": candidates["p50"].to_numpy(dtype=float),
                    "breached": candidates["hit"].to_numpy(dtype=bool),
                    "threshold": f"P50 {op} {rule['limit']:g}",
                    "text": texts,
                    "limit_low": rule["limit"] if rule["op"] == "lt" else np.nan,
                    "limit_high": rule["limit"] if rule["op"] != "lt" else np.nan,
                }
            ).assign(ts=lambda f: pd.to_datetime(f["ts"], utc=True))
        )
    if not parts:
        return pd.DataFrame(columns=EVALUATION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


@dataclass
class AlertState:
    """One alert row as the state machine sees it (alert_id None = not stored yet)."""

    station_id: str
    parameter: str
    rule: str
    severity: str
    status: str
    first_seen: pd.Timestamp
    last_seen: pd.Timestamp
    resolved_at: pd.Timestamp | None
    breach_count: int
    last_value: float
    worst_value: float
    threshold: str
    message: str
    alert_id: int | None = None
    changed: bool = field(default=False)
    stored_status: str | None = None  # status as loaded from mart.alerts (None = new): the transition's start
    tier: int = 1  # mart.alerts.escalation_tier: which subscriber tiers hear of its resolve

    def seen_until(self) -> pd.Timestamp:
        return max(self.last_seen, self.resolved_at) if self.resolved_at is not None else self.last_seen


def _message(row: Any) -> str:
    text = str(row.text)
    if "{value" in text:
        text = text.format(value=row.value)
    at = pd.Timestamp(row.ts).isoformat()
    return f"{row.station_id} {row.parameter}: {text} — value {row.value:.4g} at {at}"


def _worse(low: float, high: float, value: float, current: float) -> float:
    """The worse of two values against one criterion: the one further beyond its limits.

    The direction comes from the rule's typed limits, never from its display text (a pH of 6.0 then 5.0
    against "outside 6.5–8.5" keeps 5.0).
    """
    if np.isnan(current):
        return value
    criterion = Criterion(low=None if np.isnan(low) else low, high=None if np.isnan(high) else high)
    return value if criterion.excess(value) > criterion.excess(current) else current


def reconcile(
    evaluations: pd.DataFrame, stored: list[AlertState], cooldown: pd.Timedelta
) -> list[AlertState]:
    """Walk evaluations against the latest stored alert per key; return new and changed alerts."""
    latest: dict[tuple[str, str, str], AlertState] = {}
    for alert in sorted(stored, key=lambda a: a.last_seen):
        latest[(alert.station_id, alert.parameter, alert.rule)] = alert
    if evaluations.empty:
        return []
    keys = ["station_id", "parameter", "rule"]
    breaching = set(map(tuple, evaluations.loc[evaluations["breached"], keys].drop_duplicates().to_numpy()))
    open_keys = {k for k, a in latest.items() if a.status == "open"}
    relevant = breaching | open_keys
    work = (
        evaluations[evaluations[keys].apply(tuple, axis=1).isin(relevant)]
        if relevant
        else evaluations.iloc[0:0]
    )
    out: list[AlertState] = []
    for key, rows in work.sort_values("ts").groupby(keys, sort=False):
        state = latest.get(key)
        created: list[AlertState] = []
        for row in rows.itertuples(index=False):
            ts = pd.Timestamp(row.ts)
            if state is not None and ts <= state.seen_until():
                continue  # already accounted for by an earlier run
            if row.breached:
                if state is not None and state.status == "open":
                    state.last_seen, state.last_value = ts, row.value
                    state.breach_count += 1
                    state.worst_value = _worse(row.limit_low, row.limit_high, row.value, state.worst_value)
                    state.changed = True
                elif (
                    state is not None and state.resolved_at is not None and ts - state.resolved_at <= cooldown
                ):
                    state.status, state.resolved_at, state.last_seen = "open", None, ts
                    state.breach_count += 1
                    state.last_value = row.value
                    state.changed = True
                else:
                    state = AlertState(
                        station_id=row.station_id,
                        parameter=row.parameter,
                        rule=row.rule,
                        severity=row.severity,
                        status="open",
                        first_seen=ts,
                        last_seen=ts,
                        resolved_at=None,
                        breach_count=1,
                        last_value=row.value,
                        worst_value=row.value,
                        threshold=row.threshold,
                        message=_message(row),
                        changed=True,
                    )
                    created.append(state)
            elif state is not None and state.status == "open" and ts - state.last_seen >= cooldown:
                state.status, state.resolved_at = "resolved", ts
                state.changed = True
        if state is not None and state.changed and state not in created:
            out.append(state)
        out.extend(a for a in created if a.changed)
    # de-duplicate while keeping order (an alert created then resolved appears once)
    seen: set[int] = set()
    unique = []
    for alert in out:
        if id(alert) not in seen:
            seen.add(id(alert))
            unique.append(alert)
    return unique


ALERT_STATE_COLUMNS = """alert_id, station_id, parameter, rule, severity, status, first_seen, last_seen,
       resolved_at, breach_count, last_value, worst_value, threshold, message, escalation_tier"""

STORED_ALERTS_SQL = f"""
SELECT DISTINCT ON (station_id, parameter, rule) {ALERT_STATE_COLUMNS}
FROM mart.alerts
WHERE station_id = ANY(%(stations)s) OR status = 'open'
ORDER BY station_id, parameter, rule, last_seen DESC
"""


def alert_state_from_row(row: Mapping[str, Any]) -> AlertState:
    """The one loader of a stored alert: a mart.alerts row selected with ALERT_STATE_COLUMNS, by name."""
    return AlertState(
        alert_id=row["alert_id"],
        station_id=row["station_id"],
        parameter=row["parameter"],
        rule=row["rule"],
        severity=row["severity"],
        status=row["status"],
        first_seen=pd.Timestamp(row["first_seen"]),
        last_seen=pd.Timestamp(row["last_seen"]),
        resolved_at=pd.Timestamp(row["resolved_at"]) if row["resolved_at"] is not None else None,
        breach_count=row["breach_count"],
        last_value=row["last_value"] if row["last_value"] is not None else np.nan,
        worst_value=row["worst_value"] if row["worst_value"] is not None else np.nan,
        threshold=row["threshold"],
        message=row["message"],
        stored_status=row["status"],
        tier=row["escalation_tier"],
    )


def load_stored(conn: psycopg.Connection, stations: list[str]) -> list[AlertState]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(STORED_ALERTS_SQL, {"stations": stations})
        return [alert_state_from_row(row) for row in cur.fetchall()]


def notify_payload(alert: AlertState) -> str:
    """The broadcaster contract for an alert (live.channels.alert_message), from the state machine's view."""
    return alert_message({name: getattr(alert, name) for name in ALERT_MESSAGE_FIELDS})


def write_alerts(conn: psycopg.Connection, alerts: list[AlertState], rules_version: str) -> tuple[int, int]:
    """Insert new / update changed alerts and announce each with pg_notify, all in ONE transaction.

    NOTIFY is delivered only on commit, so listeners never hear of an alert that was rolled back. The
    notifications people are owed (opened / re-opened / resolved; alerts.routing decides for whom) go into
    ops.alert_outbox in this same transaction: the outbox holds a row if and only if its transition
    committed, and `purehealth notify` delivers it. Returns (opened, changed).
    """
    opened = changed = 0
    transitions: list[Transition] = []
    secret = load_secret(conn) if alerts else b""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('mart.alerts', 0))")
        for alert in alerts:
            values = {
                "station_id": alert.station_id,
                "parameter": alert.parameter,
                "rule": alert.rule,
                "severity": alert.severity,
                "status": alert.status,
                "first_seen": alert.first_seen,
                "last_seen": alert.last_seen,
                "resolved_at": alert.resolved_at,
                "breach_count": alert.breach_count,
                "last_value": _float(alert.last_value),
                "worst_value": _float(alert.worst_value),
                "threshold": alert.threshold,
                "message": alert.message,
                "rules_version": rules_version,
                "alert_id": alert.alert_id,
            }
            if alert.alert_id is None:
                cur.execute(
                    """INSERT INTO mart.alerts (station_id, parameter, rule, severity, status, first_seen,
                           last_seen, resolved_at, breach_count, last_value, worst_value, threshold, message,
                           rules_version)
                       VALUES (%(station_id)s, %(parameter)s, %(rule)s, %(severity)s, %(status)s,
                           %(first_seen)s, %(last_seen)s, %(resolved_at)s, %(breach_count)s, %(last_value)s,
                           %(worst_value)s, %(threshold)s, %(message)s, %(rules_version)s)
                       RETURNING alert_id""",
                    values,
                )
                alert.alert_id = cur.fetchone()[0]
                opened += 1
            else:
                cur.execute(
                    """UPDATE mart.alerts SET status = %(status)s, last_seen = %(last_seen)s,
                           resolved_at = %(resolved_at)s, breach_count = %(breach_count)s,
                           last_value = %(last_value)s, worst_value = %(worst_value)s,
                           rules_version = %(rules_version)s, updated_at = now()
                       WHERE alert_id = %(alert_id)s""",
                    values,
                )
                changed += 1
            sealed = seal(secret, EVENTS_CHANNEL, notify_payload(alert))
            cur.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, sealed))
            kind = transition_kind(alert.stored_status, alert.status)
            if kind is not None:
                transitions.append(_as_transition(kind, alert))
            alert.stored_status = alert.status
        write_owed(cur, transitions)
    return opened, changed


def transition_kind(before: str | None, after: str) -> str | None:
    """What people are told of a change of status (None: an open alert extended — no new message).

    An alert created and resolved within one run is announced once, as resolved (its message still says
    since when).
    """
    if before == after:
        return None
    if after == "resolved":
        return "resolved"
    return "opened" if before is None else "reopened"


def _as_transition(kind: str, alert: AlertState) -> Transition:
    return Transition(
        kind=kind,
        alert_id=int(alert.alert_id),
        station_id=alert.station_id,
        parameter=alert.parameter,
        rule=alert.rule,
        severity=alert.severity,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        resolved_at=alert.resolved_at,
        last_value=_float(alert.last_value),
        worst_value=_float(alert.worst_value),
        threshold=alert.threshold,
        message=alert.message,
        tier=alert.tier,
    )


def _float(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)
