"""Load the versioned QARTOD threshold file (quality/qartod_thresholds.yaml) into typed objects.

Thresholds are configuration, not code: an operator tunes a span by editing the YAML and bumping its
`version`; every scored reading records that version (core.readings.qc_version). Validation happens here,
once, so a typo (suspect span wider than fail span, unknown test name) fails at load time with the
parameter named, not half-way through a backfill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

TESTS: tuple[str, ...] = (
    "gap",
    "syntax",
    "gross_range",
    "climatology",
    "spike",
    "rate_of_change",
    "flat_line",
    "drift",
)


@dataclass(frozen=True)
class GrossRange:
    fail: tuple[float, float]
    suspect: tuple[float, float] | None = None


@dataclass(frozen=True)
class Spike:
    suspect: float
    fail: float | None = None
    method: str = "differential"


@dataclass(frozen=True)
class FlatLine:
    """A stuck sensor repeats a value (within `tolerance`, at least the reporting resolution) for hours.

    `exempt`: a value span where a long flat line is physics, not a fault (water under ice sits at 0 °C for
    days); readings inside it are never flat-line flagged.
    """

    tolerance: float
    suspect_hours: float
    fail_hours: float
    exempt: tuple[float, float] | None = None


@dataclass(frozen=True)
class RateOfChange:
    """QARTOD rate of change, made independent of the sampling interval.

    The change is measured against the last *clean* reading at least `min_span_minutes` earlier (not the
    immediate predecessor), so noise between samples seconds apart is not read as an hourly rate, and a
    reading after a spike is compared with the reading before the spike, not with the spike. A change no
    larger than `noise_factor` × the series' own recent noise (robust σ of first differences, QARTOD's
    "N standard deviations") is never flagged.
    """

    suspect_per_hour: float
    min_span_minutes: float = 10.0
    noise_factor: float = 0.0


DRIFT_MODELS: tuple[str, ...] = ("saturation", "covariate", "history", "baseline")


@dataclass(frozen=True)
class Drift:
    """Model-based test for what rule tests cannot see (quality/drift.py): sensor drift and fouling.

    `model` predicts the reading from something other than its own value: "saturation" (dissolved oxygen
    from the co-measured water temperature `covariate`, through the oxygen solubility curve and the
    station's own learned ratio to it), "covariate" (log of the reading from the log of a co-measured
    `covariate` with the station's own robust slope: turbidity from conductivity, which dilutes when the
    flow that carries sediment rises — a fouled sensor decouples from it) or "history" (the series' own
    recent bins: how erratic the sensor has become). A sustained residual (window median, DriftSettings)
    beyond max(k · the station's learned scale, `floor`) on `side` ("high", "low" or "both") is suspect.
    `log`: residuals of log values (a multiplicative sensor such as turbidity), `floor` then in log units.
    `exempt`: a span of the co-measured `exempt_covariate` where the model does not hold (water at its
    freezing point: ice in the water or on the optics makes turbidity erratic for reasons a technician
    judges case by case); a window
    that saw the covariate inside it is not evaluated and its readings do not teach the model.
    """

    model: str
    covariate: str | None = None
    side: str = "both"
    floor: float = 0.0
    log: bool = False
    exempt_covariate: str | None = None
    exempt: tuple[float, float] | None = None
    # "baseline" model: the reading against the median of its series over the preceding `baseline_days`,
    # judged only while the co-measured `covariate` is inside `within` (a probe frozen into ice: EC at the
    # freezing point falling far below its recent level), each `window_hours` on its own (default: the
    # shared DriftSettings.window_hours).
    baseline_days: float | None = None
    within: tuple[float, float] | None = None
    window_hours: float | None = None


@dataclass(frozen=True)
class DriftSettings:
    """How the drift test windows and learns (shared by every parameter that has a `drift` model).

    Readings are reduced to `bin_minutes` medians (the same bins whatever the sampling rate, so a 5-s live
    sensor and a 15-min logger learn comparable scales), the residual of each bin is summarised by the
    median of the trailing `window_hours` (sustained: a single event does not move it), evaluated when at
    least `min_coverage` of the window's bins hold data. The station's reference (center and scale of that
    window statistic) is learned from at least `min_learning_days` of history; `k` scales it.
    """

    bin_minutes: float = 60.0
    window_hours: float = 24.0
    min_coverage: float = 0.5
    k: float = 6.0
    min_learning_days: float = 14.0
    learning_days: float = 365.0


@dataclass(frozen=True)
class ParameterThresholds:
    gross_range: GrossRange | None = None
    spike: Spike | None = None
    rate_of_change: RateOfChange | None = None
    flat_line: FlatLine | None = None
    # Exact values this sensor never reports for real (a dead pH probe's 0.00): fail at once (syntax test).
    impossible_values: tuple[float, ...] = ()
    # Reporting resolution (unit steps the sensor prints); the flat-line tolerance must be at least this.
    resolution: float | None = None
    drift: Drift | None = None

    @property
    def rate_of_change_per_hour(self) -> float | None:
        return self.rate_of_change.suspect_per_hour if self.rate_of_change else None


@dataclass(frozen=True)
class GapRule:
    hours: float
    flag: int = 3


@dataclass(frozen=True)
class ClimatologySettings:
    quantiles: tuple[float, float] = (0.005, 0.995)
    margin: float = 0.1
    min_samples: int = 30
    # Months pooled either side of the month (seasonal transitions move across month boundaries).
    neighbour_months: int = 0
    # Short history gives spans too narrow for real year-to-year variability: the margin is multiplied by
    # (1 + short_history_factor / n_years), n_years = distinct years of history in the (pooled) month.
    short_history_factor: float = 0.0
    # Per parameter, the least distance (in its unit) a span keeps from the learned quantiles: a departure
    # smaller than the error a technician would correct is no evidence of a fault.
    min_margin: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QcConfig:
    """Everything the scorer needs besides the data and the learned climatology."""

    version: str
    lookback_hours: float
    lookahead_hours: float
    max_future_minutes: float
    satellite_min_pixel_count: int
    # Logger no-data / error codes (Campbell loggers: -9999, 7999): a reading holding one fails at once.
    logger_codes: tuple[float, ...]
    source_tests: dict[str, frozenset[str]]
    gap: dict[str, GapRule]
    climatology: ClimatologySettings
    parameters: dict[str, ParameterThresholds]
    drift: DriftSettings = field(default_factory=DriftSettings)
    station_overrides: dict[str, dict[str, ParameterThresholds]] = field(default_factory=dict)

    def tests_for(self, source: str) -> frozenset[str]:
        """Tests that apply to a source; an unknown source gets syntax + gross range only."""
        return self.source_tests.get(source, frozenset({"syntax", "gross_range"}))


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{where}: expected [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise ValueError(f"{where}: low {low} > high {high}")
    return low, high


def _parameter(raw: dict[str, Any], where: str) -> ParameterThresholds:
    unknown = set(raw) - {
        "gross_range",
        "spike",
        "rate_of_change",
        "flat_line",
        "impossible_values",
        "resolution",
        "drift",
    }
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    gross = None
    if "gross_range" in raw:
        g = raw["gross_range"]
        fail = _pair(g["fail"], f"{where}.gross_range.fail")
        suspect = _pair(g["suspect"], f"{where}.gross_range.suspect") if g.get("suspect") else None
        if suspect and (suspect[0] < fail[0] or suspect[1] > fail[1]):
            raise ValueError(f"{where}.gross_range: suspect span {suspect} must lie within fail span {fail}")
        gross = GrossRange(fail=fail, suspect=suspect)
    spike = None
    if "spike" in raw:
        s = raw["spike"]
        method = s.get("method", "differential")
        if method not in ("average", "differential"):
            raise ValueError(f"{where}.spike.method must be 'average' or 'differential'")
        spike = Spike(
            suspect=float(s["suspect"]), fail=float(s["fail"]) if s.get("fail") else None, method=method
        )
    roc = None
    if "rate_of_change" in raw:
        r = raw["rate_of_change"]
        roc = RateOfChange(
            suspect_per_hour=float(r["suspect_per_hour"]),
            min_span_minutes=float(r.get("min_span_minutes", 10.0)),
            noise_factor=float(r.get("noise_factor", 0.0)),
        )
    resolution = float(raw["resolution"]) if raw.get("resolution") is not None else None
    flat = None
    if "flat_line" in raw:
        f = raw["flat_line"]
        exempt = _pair(f["exempt"], f"{where}.flat_line.exempt") if f.get("exempt") else None
        flat = FlatLine(float(f["tolerance"]), float(f["suspect_hours"]), float(f["fail_hours"]), exempt)
        if flat.suspect_hours > flat.fail_hours:
            raise ValueError(f"{where}.flat_line: suspect_hours must not exceed fail_hours")
        if resolution is not None and flat.tolerance < resolution:
            raise ValueError(
                f"{where}.flat_line: tolerance {flat.tolerance} is below the reporting resolution "
                f"{resolution}: a stable river would look like a stuck sensor"
            )
    impossible = tuple(float(v) for v in raw.get("impossible_values") or ())
    drift = None
    if "drift" in raw:
        d = raw["drift"]
        unknown = set(d) - {
            *("model", "covariate", "side", "floor", "log", "exempt_covariate", "exempt"),
            *("baseline_days", "within", "window_hours"),
        }
        if unknown:
            raise ValueError(f"{where}.drift: unknown keys {sorted(unknown)}")
        if d.get("model") not in DRIFT_MODELS:
            raise ValueError(f"{where}.drift.model must be one of {DRIFT_MODELS}")
        if d.get("side", "both") not in ("high", "low", "both"):
            raise ValueError(f"{where}.drift.side must be 'high', 'low' or 'both'")
        if d["model"] in ("saturation", "covariate") and not d.get("covariate"):
            raise ValueError(f"{where}.drift: the {d['model']} model needs a `covariate`")
        if d["model"] == "baseline" and not d.get("baseline_days"):
            raise ValueError(f"{where}.drift: the baseline model needs `baseline_days`")
        if d.get("within") and not d.get("covariate"):
            raise ValueError(f"{where}.drift: `within` needs the `covariate` it is a span of")
        if bool(d.get("exempt")) != bool(d.get("exempt_covariate")):
            raise ValueError(f"{where}.drift: `exempt` and `exempt_covariate` go together")
        drift = Drift(
            model=str(d["model"]),
            covariate=str(d["covariate"]) if d.get("covariate") else None,
            side=str(d.get("side", "both")),
            floor=float(d.get("floor", 0.0)),
            log=bool(d.get("log", False)),
            exempt_covariate=str(d["exempt_covariate"]) if d.get("exempt_covariate") else None,
            exempt=_pair(d["exempt"], f"{where}.drift.exempt") if d.get("exempt") else None,
            baseline_days=float(d["baseline_days"]) if d.get("baseline_days") else None,
            within=_pair(d["within"], f"{where}.drift.within") if d.get("within") else None,
            window_hours=float(d["window_hours"]) if d.get("window_hours") else None,
        )
    return ParameterThresholds(gross, spike, roc, flat, impossible, resolution, drift)


def parse_config(raw: dict[str, Any]) -> QcConfig:
    """Validate and type a thresholds mapping (the parsed YAML)."""
    if not raw.get("version"):
        raise ValueError("thresholds file needs a non-empty 'version'")
    source_tests: dict[str, frozenset[str]] = {}
    for source, tests in (raw.get("sources") or {}).items():
        unknown = set(tests) - set(TESTS)
        if unknown:
            raise ValueError(f"sources.{source}: unknown tests {sorted(unknown)}; known: {TESTS}")
        source_tests[source] = frozenset(tests)
    gap = {
        source: GapRule(hours=float(rule["hours"]), flag=int(rule.get("flag", 3)))
        for source, rule in (raw.get("gap") or {}).items()
    }
    for source, rule in gap.items():
        if rule.flag not in (3, 4):
            raise ValueError(f"gap.{source}.flag must be 3 or 4")
    parameters = {
        code: _parameter(spec or {}, f"parameters.{code}")
        for code, spec in (raw.get("parameters") or {}).items()
    }
    overrides = {
        station: {
            code: _parameter(spec or {}, f"station_overrides.{station}.{code}")
            for code, spec in (by_parameter or {}).items()
        }
        for station, by_parameter in (raw.get("station_overrides") or {}).items()
    }
    clim = raw.get("climatology") or {}
    drift = raw.get("drift") or {}
    unknown_drift = set(drift) - set(DriftSettings.__dataclass_fields__)
    if unknown_drift:
        raise ValueError(f"drift: unknown keys {sorted(unknown_drift)}")
    drift_settings = DriftSettings(**{k: float(v) for k, v in drift.items()})
    if not 0 < drift_settings.min_coverage <= 1:
        raise ValueError("drift.min_coverage must be in (0, 1]")
    if drift_settings.window_hours < drift_settings.bin_minutes / 60.0:
        raise ValueError("drift.window_hours must cover at least one bin")
    config = QcConfig(
        version=str(raw["version"]),
        lookback_hours=float(raw.get("lookback_hours", 6)),
        lookahead_hours=float(raw.get("lookahead_hours", 1)),
        max_future_minutes=float(raw.get("max_future_minutes", 10)),
        satellite_min_pixel_count=int(raw.get("satellite_min_pixel_count", 10)),
        logger_codes=tuple(float(v) for v in raw.get("logger_codes") or ()),
        source_tests=source_tests,
        gap=gap,
        climatology=ClimatologySettings(
            quantiles=_pair(clim.get("quantiles", [0.005, 0.995]), "climatology.quantiles"),
            margin=float(clim.get("margin", 0.1)),
            min_samples=int(clim.get("min_samples", 30)),
            neighbour_months=int(clim.get("neighbour_months", 0)),
            short_history_factor=float(clim.get("short_history_factor", 0.0)),
            min_margin={str(k): float(v) for k, v in (clim.get("min_margin") or {}).items()},
        ),
        parameters=parameters,
        station_overrides=overrides,
        drift=drift_settings,
    )
    longest_gap = max((g.hours for g in gap.values()), default=0.0)
    if config.lookback_hours < max(longest_gap, 0.0):
        raise ValueError(f"lookback_hours {config.lookback_hours} is shorter than the longest gap threshold")
    if any(p.drift for p in parameters.values()) and config.lookback_hours < drift_settings.window_hours:
        raise ValueError(
            f"lookback_hours {config.lookback_hours} is shorter than drift.window_hours "
            f"{drift_settings.window_hours}: the first readings of a day would see a partial window"
        )
    for code, thresholds in parameters.items():
        spec = thresholds.drift
        if spec is not None and spec.baseline_days and spec.baseline_days * 24.0 > config.lookback_hours:
            raise ValueError(
                f"parameters.{code}.drift.baseline_days {spec.baseline_days} reaches past lookback_hours "
                f"{config.lookback_hours}: the warehouse would judge each day against a shorter baseline "
                "than a file"
            )
    # A flat-line window longer than the lookback (water level: 48 h) is still evaluated; its first hours
    # of a day just see less history.
    return config


DEFAULT_THRESHOLDS_FILE = "qartod_thresholds.yaml"


def load_config(path: str | Path | None = None) -> QcConfig:
    """Load the thresholds file (default: the one shipped in this package)."""
    if path is None:
        text = (resources.files("purehealth_pipelines.quality") / DEFAULT_THRESHOLDS_FILE).read_text()
    else:
        text = Path(path).read_text()
    return parse_config(yaml.safe_load(text))


def with_station_ranges(config: QcConfig, ranges: dict[str, dict[str, Any]]) -> QcConfig:
    """`config` with each station's own suspect span ({station: {parameter: [low, high]}}) as an override.

    A site's plausible range (what its technicians know, e.g. the LRO `site_ranges.yaml`) is a far better
    suspect span than a regional default; the fail span stays the sensor's physical range (widened only if
    the site's span reaches past it).
    """
    overrides = {station: dict(by_parameter) for station, by_parameter in config.station_overrides.items()}
    for station, by_parameter in (ranges or {}).items():
        for parameter, span in (by_parameter or {}).items():
            low, high = _pair(span, f"station ranges {station}.{parameter}")
            base = overrides.get(str(station), {}).get(parameter) or config.parameters.get(parameter)
            fail = base.gross_range.fail if base and base.gross_range else (low, high)
            fail = (min(fail[0], low), max(fail[1], high))
            overrides.setdefault(str(station), {})[parameter] = replace(
                base or ParameterThresholds(), gross_range=GrossRange(fail=fail, suspect=(low, high))
            )
    return replace(config, station_overrides=overrides)
