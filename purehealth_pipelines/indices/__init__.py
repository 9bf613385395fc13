"""Water-quality indices: CPCB/MPCB 4-parameter WQI, CPCB designated-best-use class, WQI trend.

Pure pandas/numpy functions; the Dagster assets that feed ``mart.station_wqi_daily`` call these.
"""

from purehealth_pipelines.indices.best_use import (
    CPCB_BEST_USE_CLASSES,
    best_use_class,
    class_criteria,
    criteria_exceedances,
)
from purehealth_pipelines.indices.trend import Trend, seasonal_trend
from purehealth_pipelines.indices.wqi import (
    bod_subindex,
    classify_wqi,
    cpcb_wqi,
    do_saturation_pct,
    do_subindex,
    fc_subindex,
    ph_subindex,
)

__all__ = [
    "CPCB_BEST_USE_CLASSES",
    "Trend",
    "best_use_class",
    "bod_subindex",
    "class_criteria",
    "classify_wqi",
    "cpcb_wqi",
    "criteria_exceedances",
    "do_saturation_pct",
    "do_subindex",
    "fc_subindex",
    "ph_subindex",
    "seasonal_trend",
]
