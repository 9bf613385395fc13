"""Bench: QC and forecasts on real 15-minute river sonde data, judged against the technicians' labels.

Reads `../shared/data/lro/` (Logan River Observatory exports, see that folder's README; never copied into
the repository) and exits 0 with a reason when it is absent. For each labelled site: the readings are
scored with the site's own ranges (`site_ranges.yaml`) as station overrides and, where raw history of the
site exists (Main Street 2017–2018), a climatology learned from it — exactly what
`purehealth quality score-file --station-ranges --history` does. Prints, as markdown tables:
* per site and parameter: share flagged (qc_flag 3 or 4), precision and recall against the labels;
* per test: readings flagged, precision, recall and the bad readings only that test catches;
* the unlabelled Franklin Basin site: share flagged (its labels are kept back);
* (unless --no-forecast) the forecast skill per parameter and horizon against persistence and
  seasonal-naive, rolling-origin weekly folds on hourly means of the readings QC passed, and which
  horizons the approval gate serves.

Run: PYTHONPATH=. .venv/bin/python bench/bench_qc_real.py [--no-forecast] [--folds 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from purehealth_pipelines import settings
from purehealth_pipelines.quality.config import TESTS, load_config
from purehealth_pipelines.quality.evaluation import evaluate, markdown_table, per_test, read_lro_export
from purehealth_pipelines.quality.scorefile import score_frame

LABELLED = {"LRO-MAINSTREET": "MainStreet2019.csv", "LRO-TONYGROVE": "TonyGrove2019.csv"}
HISTORY = {"LRO-MAINSTREET": ["MS2017.csv", "MS2018.csv"]}
UNLABELLED = {"LRO-FRANKLINBASIN": "FranklinBasin2017_2019.csv"}
FORMATS = {"share_flagged": "{:.3f}", "precision": "{:.3f}", "recall": "{:.3f}"}


def lro_dir() -> Path:
    return settings.shared_data_dir() / "lro"


def score_sites(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored labelled readings with `bad`, scored unlabelled readings)."""
    config = load_config()
    ranges = yaml.safe_load((folder / "site_ranges.yaml").read_text())
    labelled = []
    for station, name in LABELLED.items():
        readings = read_lro_export(folder / name, station)
        history = None
        if station in HISTORY:
            history = pd.concat([read_lro_export(folder / h, station) for h in HISTORY[station]])
        scored, _ = score_frame(readings, config, station_ranges=ranges, history=history)
        labelled.append(scored)
    unlabelled = []
    for station, name in UNLABELLED.items():
        readings = read_lro_export(folder / name, station)
        scored, _ = score_frame(readings, config, station_ranges=ranges)
        unlabelled.append(scored)
    return pd.concat(labelled, ignore_index=True), pd.concat(unlabelled, ignore_index=True)


def qc_report(scored: pd.DataFrame, unlabelled: pd.DataFrame) -> dict[str, float]:
    columns = ["station_id", "parameter", "n", "bad", "flagged", "share_flagged", "precision", "recall"]
    table = evaluate(scored, ["station_id", "parameter"])
    overall = evaluate(scored.assign(all="all"), ["all"]).iloc[0]
    total = pd.DataFrame([{"station_id": "**all**", "parameter": "", **overall.drop("all").to_dict()}])
    print("\n### QC against the technicians' labels (labelled sites)\n")
    print(markdown_table(pd.concat([table, total], ignore_index=True), columns, FORMATS))
    print("\n### Per test (all labelled readings)\n")
    tests = per_test(scored, [t for t in TESTS if f"qc_{t}" in scored.columns])
    print(
        markdown_table(
            tests,
            ["test", "flagged", "precision", "recall", "only_this_test_true_pos"],
            FORMATS,
        )
    )
    print("\n### Unlabelled site (labels kept back): share flagged\n")
    share = (
        unlabelled.assign(flagged=unlabelled["qc_flag"].isin([3, 4]))
        .groupby(["station_id", "parameter"])["flagged"]
        .agg(n="size", share_flagged="mean")
        .reset_index()
    )
    print(markdown_table(share, ["station_id", "parameter", "n", "share_flagged"], FORMATS))
    return {"precision": float(overall["precision"]), "recall": float(overall["recall"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-forecast", action="store_true", help="QC tables only")
    parser.add_argument("--folds", type=int, default=8, help="weekly rolling-origin folds of the forecast")
    args = parser.parse_args()
    folder = lro_dir()
    if not (folder / "site_ranges.yaml").exists():
        print(f"skipped: the labelled LRO data is not at {folder} (set PUREHEALTH_SHARED_DATA)")
        return 0
    began = time.perf_counter()
    scored, unlabelled = score_sites(folder)
    print(f"scored {len(scored) + len(unlabelled):,} readings in {time.perf_counter() - began:.1f} s")
    overall = qc_report(scored, unlabelled)
    print(f"\nOVERALL precision {overall['precision']:.3f} recall {overall['recall']:.3f}")
    if not args.no_forecast:
        from bench_forecast_real import forecast_report

        history = pd.concat(
            [read_lro_export(folder / h, "LRO-MAINSTREET") for h in HISTORY["LRO-MAINSTREET"]]
        )
        history_scored, _ = score_frame(
            history, load_config(), station_ranges=yaml.safe_load((folder / "site_ranges.yaml").read_text())
        )
        forecast_report(pd.concat([history_scored, scored], ignore_index=True), n_folds=args.folds)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
