"""`purehealth ingest cpcb-nwmp FILE`: the NWMP table parser and the partition commit, outside Dagster.

Same code path as the raw/cpcb_nwmp asset (parse_nwmp_table + commit_source_window): the whole file's year
range is one window, so a second run replaces the first instead of doubling it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("purehealth.sources")


def _ingest_cpcb_nwmp(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from purehealth_pipelines.resources import WarehouseResource
    from purehealth_pipelines.sources.commit import commit_source_window
    from purehealth_pipelines.sources.common import ist_midnight, utc_text
    from purehealth_pipelines.sources.cpcb_nwmp import SOURCE, TABLE, parse_nwmp_table

    path = Path(args.file)
    if not path.is_file():
        log.error("no such file: %s", path)
        return 2
    with tqdm(total=3, desc="nwmp", unit="step", disable=args.quiet) as progress:
        text = path.read_text(encoding="utf-8-sig")
        progress.update()
        states = None if args.all_states else [args.state]
        parsed = parse_nwmp_table(text, source_file=path.name, states=states)
        progress.update()
        years = parsed.rows["year"] if not parsed.rows.empty else pd.Series([2012])
        dead = parsed.dead_letters.copy()
        dead_years = [
            int(json.loads(d)["partition_ts"][:4]) + 1 for d in dead["details"] if "partition_ts" in d
        ]
        first_year = min([int(years.min()), *dead_years])  # partition_ts is UTC: 1 Jan IST = 31 Dec UTC
        start, end = ist_midnight(first_year), ist_midnight(int(years.max()) + 1)

        dead["details"] = [
            json.dumps(
                {**json.loads(d), "partition_ts": json.loads(d).get("partition_ts") or utc_text(start)}
            )
            for d in dead["details"]
        ]
        commit = None
        if not args.dry_run:
            warehouse = WarehouseResource(url=args.url) if args.url else WarehouseResource()
            commit = commit_source_window(
                warehouse,
                table=TABLE,
                source=SOURCE,
                rows=parsed.rows,
                dead_letters=dead,
                window_start=start,
                window_end=end,
            )
        progress.update()
    print(
        f"records: {parsed.records_total} total = {parsed.records_landed} landed + {parsed.records_rejected} "
        f"dead-lettered + {parsed.records_out_of_scope} other states"
    )
    print(
        f"rows: {len(parsed.rows)} ({parsed.cells_rejected} cells dead-lettered); "
        f"window [{start.date()}, {end.date()})"
    )
    for reason, count in sorted(parsed.rejected_by_reason.items(), key=lambda kv: -kv[1]):
        print(f"  dead letter: {count:5d}  {reason}")
    if commit is not None:
        print(
            f"written: {commit.write.rows_written} rows to {TABLE} ({commit.write.rows_deleted} replaced), "
            f"{commit.dead_letters_written} dead letters to ops.dead_letters"
        )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser("ingest", help="ingest a publisher's file into the raw tables")
    sources = ingest.add_subparsers(dest="ingest_source", metavar="SOURCE", required=True)
    nwmp = sources.add_parser(
        "cpcb-nwmp",
        help="a CPCB NWMP river table (CSV, the published layout) -> raw.cpcb_nwmp + ops.dead_letters",
        description="Parse a CPCB NWMP yearly table or compilation "
        "(e.g. shared/data/cpcb_nwmp_river_2012_2023.csv)"
        " and replace its year range in raw.cpcb_nwmp; malformed records go to ops.dead_letters "
        "with the reason.",
    )
    nwmp.add_argument("file", help="path of the CSV table")
    nwmp.add_argument(
        "--state", default="MAHARASHTRA", help="keep this state's records (default MAHARASHTRA)"
    )
    nwmp.add_argument("--all-states", action="store_true", help="keep every state's records")
    nwmp.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    nwmp.add_argument("--dry-run", action="store_true", help="parse and report, write nothing")
    nwmp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    nwmp.set_defaults(handler=_ingest_cpcb_nwmp)
