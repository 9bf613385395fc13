"""`purehealth ingest cpcb-nwmp FILE` and `purehealth ingest imd --variable … FILE`: a publisher's file
through the source's parser and the partition commit, outside Dagster.

Same code path as the raw assets (parse_nwmp_table / imd.station_daily_rows + commit_source_window): the
file's year range is one window, so a second run replaces the first instead of doubling it. Operators use
them to backfill years from files downloaded by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

log = logging.getLogger("purehealth.sources")


def _ingest_cpcb_nwmp(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from purehealth_pipelines.resources import WarehouseResource
    from purehealth_pipelines.sources.commit import commit_source_window
    from purehealth_pipelines.sources.common import decode_table_bytes, ist_midnight, utc_text
    from purehealth_pipelines.sources.cpcb_nwmp import SOURCE, TABLE, parse_nwmp_table

    path = Path(args.file)
    if not path.is_file():
        log.error("no such file: %s", path)
        return 2
    with tqdm(total=3, desc="nwmp", unit="step", disable=args.quiet) as progress:
        text, encoding = decode_table_bytes(path.read_bytes())
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
        f"{path.name}: {encoding}, {parsed.header_rows} header row(s), "
        f"{len(parsed.rows['parameter'].unique()) if len(parsed.rows) else 0} parameters, statistics: "
        f"{', '.join(sorted(parsed.rows['statistic'].unique())) if len(parsed.rows) else '-'}"
    )
    if parsed.unmapped_columns:
        print(f"unmapped columns ({len(parsed.unmapped_columns)}, not landed):")
        for column, why in parsed.unmapped_columns.items():
            print(f"  {column.strip()!r}: {why}")
    else:
        print("unmapped columns: none (every column mapped)")
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


def _year_of(path: Path, given: int | None) -> int | None:
    """The archive year (it decides 365 or 366 days): --year, else the 4-digit year in IMD's file name
    (`tmax_2019.GRD`, `Rainfall_ind2019.grd`)."""
    if given is not None:
        return given
    found = re.findall(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", path.name)
    return int(found[-1]) if found else None


def _ingest_imd(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from purehealth_pipelines.resources import WarehouseResource
    from purehealth_pipelines.sources import imd
    from purehealth_pipelines.sources.collect import located_stations
    from purehealth_pipelines.sources.commit import commit_source_window
    from purehealth_pipelines.sources.common import dead_letter_frame, ist_midnight

    path = Path(args.file)
    if not path.is_file():
        log.error("no such file: %s", path)
        return 2
    year = _year_of(path, args.year)
    if year is None:
        log.error("cannot tell the year from %r: pass --year", path.name)
        return 2
    parameter = imd.PARAMETERS[args.variable][0]
    with tqdm(total=3, desc=f"imd {args.variable} {year}", unit="step", disable=args.quiet) as progress:
        data = path.read_bytes()
        stations = located_stations()
        progress.update()
        start, end = ist_midnight(year), ist_midnight(year + 1)
        try:
            rows, facts = imd.station_daily_rows(data, args.variable, year, stations, start, end)
        except imd.GridFormatError as exc:
            log.error("%s: %s", path.name, exc)
            return 1
        progress.update()
        commit = None
        if not args.dry_run:
            warehouse = WarehouseResource(url=args.url) if args.url else WarehouseResource()
            commit = commit_source_window(
                warehouse,
                table=imd.TABLE,
                source=imd.SOURCE,
                rows=rows,
                dead_letters=dead_letter_frame(imd.SOURCE, []),
                window_start=start,
                window_end=end,
                scope={"parameter": parameter},
            )
        progress.update()
    grid = imd.PARAMETERS[args.variable][2]
    leading = ", extra leading float32 skipped" if facts["leading_float32"] else ""
    print(
        f"{path.name}: {args.variable} {year}, {facts['days']} days of {grid.nlat}×{grid.nlon} cells "
        f"({facts['file_bytes']:,} bytes){leading}"
    )
    print(
        f"stations: {facts['stations']} located, {rows['station_id'].nunique()} with values; "
        f"station-days: {facts['station_days']} landed, {facts['station_days_without_valid_cell']} without "
        f"a valid neighbouring cell"
    )
    print(
        f"cells: {facts['cells_used']} used in interpolation; {facts['masked_cells']} masked as missing "
        f"({grid.missing:g}), {facts['implausible_cells']} implausible"
    )
    for note in facts["notes"]:
        print(f"  note: {note}")
    if commit is not None:
        print(
            f"written: {commit.write.rows_written} rows of {parameter} to {imd.TABLE} "
            f"({commit.write.rows_deleted} replaced); window [{start.date()}, {end.date()})"
        )
    return 0


def _ingest_mpcb(args: argparse.Namespace) -> int:
    from purehealth_pipelines.resources import WarehouseResource
    from purehealth_pipelines.sources import mpcb
    from purehealth_pipelines.sources.commit import commit_source_window
    from purehealth_pipelines.sources.common import decode_table_bytes, ist_midnight

    path = Path(args.file)
    if not path.is_file():
        log.error("no such file: %s", path)
        return 2
    text, encoding = decode_table_bytes(path.read_bytes())
    start, end = ist_midnight(args.fy, 4), ist_midnight(args.fy + 1, 4)
    rows, dead = mpcb.parse_mpcb_table(
        text, fy_start_year=args.fy, origin=path.name, window_start=start, window_end=end
    )
    print(
        f"{path.name} ({encoding}): MPCB {mpcb.financial_year_label(args.fy)}, {len(rows)} rows, "
        f"{rows['station_id'].nunique() if len(rows) else 0} stations, parameters: "
        f"{', '.join(sorted(rows['parameter'].unique())) if len(rows) else '-'}"
    )
    for reason, n in dead["reason"].str.split(":").str[0].value_counts().items():
        print(f"  dead letter: {n:5d}  {reason}")
    if not args.dry_run:
        warehouse = WarehouseResource(url=args.url) if args.url else WarehouseResource()
        commit = commit_source_window(
            warehouse,
            table=mpcb.TABLE,
            source=mpcb.SOURCE,
            rows=rows,
            dead_letters=dead,
            window_start=start,
            window_end=end,
        )
        print(
            f"written: {commit.write.rows_written} rows to {mpcb.TABLE} "
            f"({commit.write.rows_deleted} replaced), {commit.dead_letters_written} dead letters; "
            f"window [{start.date()}, {end.date()})"
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

    imd_parser = sources.add_parser(
        "imd",
        help="an IMD gridded archive file (.grd: rain 0.25°, tmax/tmin 1°) -> raw.imd_rainfall",
        description="Decode a downloaded IMD archive year (e.g. shared/data/imd/tmax_2019.GRD), interpolate "
        "it bilinearly to every located station and replace that variable's year in raw.imd_rainfall. "
        "A file that is not a whole year is refused (a truncated download).",
    )
    imd_parser.add_argument("file", help="path of the .grd file")
    imd_parser.add_argument("--variable", required=True, choices=["rain", "tmax", "tmin"])
    imd_parser.add_argument("--year", type=int, help="the file's year (default: the year in its name)")
    imd_parser.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    imd_parser.add_argument("--dry-run", action="store_true", help="decode and report, write nothing")
    imd_parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    imd_parser.set_defaults(handler=_ingest_imd)

    mpcb_parser = sources.add_parser(
        "mpcb",
        help="an MPCB monthly table (one financial year, exported to CSV) -> raw.mpcb_monthly",
        description="Parse a year's MPCB monthly station table (the annex of 'Water Quality Status of "
        "Maharashtra', exported to CSV) and replace that financial year in raw.mpcb_monthly.",
    )
    mpcb_parser.add_argument("file", help="path of the CSV table")
    mpcb_parser.add_argument(
        "--fy", type=int, required=True, help="financial year start, e.g. 2023 for 2023-24"
    )
    mpcb_parser.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
    mpcb_parser.add_argument("--dry-run", action="store_true", help="parse and report, write nothing")
    mpcb_parser.set_defaults(handler=_ingest_mpcb)
