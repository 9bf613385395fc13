"""Bench: QC and forecasts on real 15-minute river sonde data, judged against the technicians' labels.

Reads `../shared/data/lro/` (Logan River Observatory exports, see that folder's README; never copied into
the repository) and exits 0 with a reason when it is absent. For each labelled site: the readings are
scored with the site's own ranges (`site_ranges.yaml`) as station overrides and, where raw history of the
site exists (Main Street 2017–2018), a climatology learned from it — exactly what
`purehealth quality score-file --station-ranges --history` does. Prints, as markdown tables:
* per site and parameter: share flagged (qc_flag 3 or 4), precision and recall against the labels;
* per test: readings flagged, precision, recall and the bad readings only that test catches;
* the drift test's learned references (ratio, center, scale, threshold per station and parameter);
* the sites whose labels are kept back (Franklin Basin 2017–19) and Main Street's unlabelled 2017–18
  history: share flagged, overall and by the drift test;
* (unless --no-forecast) the forecast skill per parameter and horizon against persistence and
  seasonal-naive, rolling-origin weekly folds on hourly means of the readings QC passed, and which
  horizons the approval gate serves.

Main Street's calibration dates (`MainStreet_{do,cond,ph}_calib_dates.csv`) are passed as calibrations:
they restart the drift test's window (they end in 2017 for DO, so they change nothing in 2019).
`--turbidity-history FLOOR` also enables the (shipped-disabled) erratic-sensor model on turbidity, and
`--turbidity-covariate FLOOR` the (shipped-disabled) cross-parameter model (log turbidity from log EC), to
reproduce the measurements that kept them disabled. The bad readings QC missed are broken down by site,
parameter, what the technician did (logger code, deleted stretch, correction beyond tolerance, qualifier
only) and ice, with the recall each would add if caught.

Run: PYTHONPATH=. .venv/bin/python bench/bench_qc_real.py [--no-forecast] [--folds 8]
     [--turbidity-history 0.1 | --turbidity-covariate 0.3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from purehealth_pipelines import settings
from purehealth_pipelines.quality.config import TESTS, Drift, QcConfig, load_config
from purehealth_pipelines.quality.evaluation import (
    LRO_CALIBRATION_FILES,
    evaluate,
    markdown_table,
    per_test,
    read_lro_calibrations,
    read_lro_export,
)
from purehealth_pipelines.quality.scorefile import learn_reference, score_frame

LABELLED = {"LRO-MAINSTREET": "MainStreet2019.csv", "LRO-TONYGROVE": "TonyGrove2019.csv"}
HISTORY = {"LRO-MAINSTREET": ["MS2017.csv", "MS2018.csv"]}
UNLABELLED = {"LRO-FRANKLINBASIN": "FranklinBasin2017_2019.csv"}
CALIBRATED = {"LRO-MAINSTREET": "MainStreet"}
FORMATS = {"share_flagged": "{:.3f}", "precision": "{:.3f}", "recall": "{:.3f}"}


def lro_dir() -> Path:
    return settings.shared_data_dir() / "lro"


def calibrations(folder: Path) -> pd.DataFrame:
    """Every calibration the LRO files list (Main Street's DO, EC and pH sensors)."""
    frames = [
        read_lro_calibrations(folder / f"{prefix}_{sensor}_calib_dates.csv", station, parameter)
        for station, prefix in CALIBRATED.items()
        for sensor, parameter in LRO_CALIBRATION_FILES.items()
        if (folder / f"{prefix}_{sensor}_calib_dates.csv").exists()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def bench_config(
    turbidity_history_floor: float | None = None, turbidity_covariate_floor: float | None = None
) -> QcConfig:
    """The shipped thresholds; optionally with a (shipped-disabled) drift model enabled on turbidity: the
    erratic-sensor `history` model, or the cross-parameter `covariate` model (log turbidity from log EC)."""
    config = load_config()
    if turbidity_history_floor is None and turbidity_covariate_floor is None:
        return config
    if turbidity_history_floor is not None:
        model = Drift(
            model="history",
            side="high",
            log=True,
            floor=turbidity_history_floor,
            exempt_covariate="temp_c",
            exempt=(-0.5, 0.5),
        )
    else:
        model = Drift(
            model="covariate", covariate="ec_us_cm", side="high", log=True, floor=turbidity_covariate_floor
        )
    parameters = dict(config.parameters)
    parameters["turbidity_ntu"] = dataclasses.replace(parameters["turbidity_ntu"], drift=model)
    return dataclasses.replace(config, parameters=parameters)


def score_sites(
    folder: Path, config: QcConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(scored labelled readings with `bad`, scored readings without labels, the drift references).

    Readings without labels: Franklin Basin (kept back) and Main Street's 2017–18 history, each scored
    with its site ranges and a drift reference learned from itself."""
    config = config or load_config()
    ranges = yaml.safe_load((folder / "site_ranges.yaml").read_text())
    calibrated = calibrations(folder)
    labelled, references = [], []
    for station, name in LABELLED.items():
        readings = read_lro_export(folder / name, station)
        history = None
        if station in HISTORY:
            history = pd.concat([read_lro_export(folder / h, station) for h in HISTORY[station]])
        scored, _ = score_frame(
            readings, config, station_ranges=ranges, history=history, calibrations=calibrated
        )
        labelled.append(scored)
        # as score_frame does: the history's references, plus the file's own for what history lacks
        learned = learn_reference(history if history is not None else readings, config, calibrated)
        if history is not None:
            own = learn_reference(readings, config, calibrated)
            learned = pd.concat([learned, own[~own["parameter"].isin(learned["parameter"])]])
        references.append(learned)
    unlabelled = []
    kept_back = {station: [name] for station, name in UNLABELLED.items()} | HISTORY
    for station, names in kept_back.items():
        readings = pd.concat([read_lro_export(folder / name, station) for name in names])
        scored, _ = score_frame(readings, config, station_ranges=ranges, calibrations=calibrated)
        unlabelled.append(scored.assign(site=f"{station} ({', '.join(names)})"))
    return (
        pd.concat(labelled, ignore_index=True),
        pd.concat(unlabelled, ignore_index=True),
        pd.concat(references, ignore_index=True),
    )


# Water at its freezing point (°C): ice in the water or on the optics, where technicians judge case by case.
FREEZING = 0.5


def missed_report(scored: pd.DataFrame) -> None:
    """Where the bad readings QC did not flag are: by site, parameter, what the technician did
    (evaluation.BAD_KINDS) and whether the water was at its freezing point; then the recall ceiling if
    each (site, parameter, kind) were caught in full, largest first."""
    temp = scored.loc[scored["parameter"] == "temp_c", ["station_id", "ts", "value"]]
    temp = temp.drop_duplicates(subset=["station_id", "ts"]).rename(columns={"value": "_temp"})
    frame = scored.merge(temp, on=["station_id", "ts"], how="left")
    missed = frame[frame["bad"] & ~frame["qc_flag"].isin([3, 4])].assign(
        ice=lambda f: np.where(f["_temp"] <= FREEZING, "yes", "no")
    )
    table = (
        missed.groupby(["station_id", "parameter", "bad_kind", "ice"]).size().rename("missed").reset_index()
    )
    table = table.sort_values("missed", ascending=False).reset_index(drop=True)
    n_bad, caught = int(frame["bad"].sum()), int((frame["bad"] & frame["qc_flag"].isin([3, 4])).sum())
    table["recall_if_caught"] = (caught + table["missed"].cumsum()) / n_bad
    print(f"\n### Bad readings QC missed ({len(missed):,} of {n_bad:,})")
    print("by site, parameter, technician's action, ice (largest first)\n")
    print(
        markdown_table(
            table.head(15),
            ["station_id", "parameter", "bad_kind", "ice", "missed", "recall_if_caught"],
            {"recall_if_caught": "{:.3f}"},
        )
    )


def qc_report(scored: pd.DataFrame, unlabelled: pd.DataFrame, references: pd.DataFrame) -> dict[str, float]:
    columns = ["station_id", "parameter", "n", "bad", "flagged", "share_flagged", "precision", "recall"]
    table = evaluate(scored, ["station_id", "parameter"])
    overall = evaluate(scored.assign(all="all"), ["all"]).iloc[0]
    total = pd.DataFrame([{"station_id": "**all**", "parameter": "", **overall.drop("all").to_dict()}])
    print("\n### QC against the technicians' labels (labelled sites)\n")
    print(markdown_table(pd.concat([table, total], ignore_index=True), columns, FORMATS))
    print("\n### Per site (thresholds are rules learned from each site's own data, never from labels)\n")
    print(markdown_table(evaluate(scored, ["station_id"]), ["station_id", *columns[2:]], FORMATS))
    missed_report(scored)
    print("\n### Per test (all labelled readings)\n")
    tests = per_test(scored, [t for t in TESTS if f"qc_{t}" in scored.columns])
    print(
        markdown_table(
            tests,
            ["test", "flagged", "precision", "recall", "only_this_test_true_pos"],
            FORMATS,
        )
    )
    print("\n### Drift test: references learned per station (history where there is one)\n")
    print(
        markdown_table(
            references,
            ["station_id", "parameter", "model", "ratio", "center", "scale", "threshold", "n_windows"],
            {"ratio": "{:.3f}", "center": "{:+.3f}", "scale": "{:.3f}", "threshold": "{:.3f}"},
        )
    )
    print("\n### Readings without labels: share flagged (all tests / drift test)\n")
    share = (
        unlabelled.assign(
            flagged=unlabelled["qc_flag"].isin([3, 4]), drift=unlabelled["qc_drift"].isin([3, 4])
        )
        .groupby(["site", "parameter"])[["flagged", "drift"]]
        .agg(["size", "mean"])
    )
    share.columns = ["n", "share_flagged", "_", "share_drift"]
    print(
        markdown_table(
            share.reset_index(),
            ["site", "parameter", "n", "share_flagged", "share_drift"],
            FORMATS | {"share_drift": "{:.3f}"},
        )
    )
    return {"precision": float(overall["precision"]), "recall": float(overall["recall"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-forecast", action="store_true", help="QC tables only")
    parser.add_argument("--folds", type=int, default=8, help="weekly rolling-origin folds of the forecast")
    parser.add_argument(
        "--gate-z",
        type=float,
        help="forecast approval margin in standard errors (default: models.GATE_Z; 0 = point skill only)",
    )
    parser.add_argument(
        "--turbidity-history",
        type=float,
        metavar="FLOOR",
        help="also enable the erratic-sensor drift model on turbidity with this floor (log units)",
    )
    parser.add_argument(
        "--turbidity-covariate",
        type=float,
        metavar="FLOOR",
        help="instead enable the cross-parameter drift model on turbidity (log turbidity from log EC) with "
        "this floor (log units)",
    )
    args = parser.parse_args()
    folder = lro_dir()
    if not (folder / "site_ranges.yaml").exists():
        print(f"skipped: the labelled LRO data is not at {folder} (set PUREHEALTH_SHARED_DATA)")
        return 0
    began = time.perf_counter()
    config = bench_config(args.turbidity_history, args.turbidity_covariate)
    scored, unlabelled, references = score_sites(folder, config)
    print(f"scored {len(scored) + len(unlabelled):,} readings in {time.perf_counter() - began:.1f} s")
    overall = qc_report(scored, unlabelled, references)
    print(f"\nOVERALL precision {overall['precision']:.3f} recall {overall['recall']:.3f}")
    if not args.no_forecast:
        from bench_forecast_real import forecast_report

        from purehealth_pipelines.forecasting import models

        if args.gate_z is not None:
            models.GATE_Z = args.gate_z

        # Main Street's 2017–18 history as scored above (unlabelled) + the labelled 2019 readings
        history_scored = unlabelled[unlabelled["station_id"].isin(HISTORY)].drop(columns="site")
        forecast_report(pd.concat([history_scored, scored], ignore_index=True), n_folds=args.folds)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
