"""`purehealth quality …`: QC outside the warehouse.

`score-file` runs the same QARTOD tests and thresholds as core.readings on a long CSV export, so an
operator can check a file before import and QC can be evaluated against labelled data.
"""

from __future__ import annotations

import argparse
import sys

from purehealth_pipelines.quality.config import load_config
from purehealth_pipelines.quality.qartod import QC_COLUMNS


def _score_file(args: argparse.Namespace) -> int:
    from purehealth_pipelines.quality.scorefile import (
        read_calibrations,
        read_input,
        read_station_ranges,
        score_frame,
    )

    readings = read_input(args.input)
    history = read_input(args.history) if args.history else None
    ranges = read_station_ranges(args.station_ranges) if args.station_ranges else None
    calibrations = read_calibrations(args.calibrations) if args.calibrations else None
    config = load_config(args.thresholds)
    scored, rejected = score_frame(
        readings, config, station_ranges=ranges, history=history, calibrations=calibrations
    )
    columns = [*readings.columns, "qc_flag", *QC_COLUMNS, "quality"]
    out = scored[columns].copy()
    out["ts"] = out["ts"].map(lambda t: t.isoformat())
    out.to_csv(args.output, index=False)
    counts = out["quality"].fillna("not scored").value_counts().to_dict()
    print(f"scored {len(out):,} rows -> {args.output} (thresholds {config.version}): {counts}")
    if len(rejected):
        reasons = rejected["reason"].value_counts().to_dict()
        print(f"{len(rejected):,} rows not scored (empty qc_flag): {reasons}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    quality = commands.add_parser("quality", help="QARTOD quality control outside the warehouse")
    actions = quality.add_subparsers(dest="quality_command", metavar="ACTION", required=True)
    score = actions.add_parser(
        "score-file",
        help="QC a long CSV export (station_id, parameter, ts, value): adds qc_flag and per-test flags",
    )
    score.add_argument("input", help="CSV: station_id, parameter, ts (ISO 8601 with offset), value[, unit]")
    score.add_argument("--output", required=True, help="where to write the rows with their flags (CSV)")
    score.add_argument(
        "--station-ranges", help="YAML {station_id: {parameter: [low, high]}}: each station's suspect span"
    )
    score.add_argument(
        "--history",
        help="CSV in INPUT's format: history the climatology and the drift reference are learned from "
        "(default for the drift reference: INPUT itself)",
    )
    score.add_argument(
        "--calibrations",
        help="CSV station_id, parameter, ts: sensor calibrations; the drift test's window restarts at each",
    )
    score.add_argument("--thresholds", help="a thresholds YAML (default: the shipped qartod_thresholds.yaml)")
    score.set_defaults(handler=_score_file)
