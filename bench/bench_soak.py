"""Soak: the live path and the Dagster daemon left running (default 30 minutes) over a throwaway warehouse.

Runs the same harness as the suite's bounded soak (purehealth_pipelines_tests/live/soak.py): bridge,
broadcaster, dagster-daemon with the real sensors and automation, and the simulator publishing with injected
faults (spikes, DO drops every 10 minutes, a drifting and a stuck sensor, dropouts, malformed messages).
Prints failed runs, the share of clean readings QC calls good, injected fast faults flagged, alert latency
from the DO drop to the WebSocket, whether mart.station_latest kept moving, and each process's memory at
start and end. Limits are the issue's: zero failed runs, >= 97 % of clean readings good, every fast fault
flagged.

    .venv/bin/python bench/bench_soak.py [--minutes 30] [--rate 3] [--stations 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _support import report

from purehealth_pipelines_tests.conftest import create_test_database, drop_test_database
from purehealth_pipelines_tests.live.helpers import unique
from purehealth_pipelines_tests.live.soak import Soak, SoakConfig, dagster_storage_url


def admin_url() -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from purehealth_pipelines import settings

    return make_conninfo(**{**conninfo_to_dict(settings.warehouse_url()), "dbname": "postgres"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="publishing time (default 30)")
    parser.add_argument("--rate", type=float, default=3.0, help="messages per second, all stations")
    parser.add_argument("--stations", type=int, default=3)
    args = parser.parse_args()
    admin = admin_url()
    warehouse = create_test_database(admin, migrated=True)
    storage = create_test_database(admin, migrated=False)
    with tempfile.TemporaryDirectory(prefix="purehealth-soak-") as workdir:
        soak = Soak(
            SoakConfig(
                warehouse_url=warehouse,
                dagster_storage_url=dagster_storage_url(storage),
                workdir=Path(workdir),
                publish_seconds=args.minutes * 60,
                settle_seconds=300,
                stations=args.stations,
                rate=args.rate,
                do_drop_every_s=600,
                prefix=unique("B").upper().replace("-", ""),
            )
        )
        try:
            soak.prepare()
            soak.start()
            result = soak.run(progress=True)
        finally:
            soak.stop()
            drop_test_database(admin, storage)
            drop_test_database(admin, warehouse)
    rows = [
        ("publishing", f"{args.minutes:.0f} min, {args.rate:g} msg/s over {args.stations} stations"),
        (
            "runs succeeded / failed",
            f"{result.runs_succeeded} / {len(result.runs_failed)}  (limit: 0 failed)",
        ),
        ("clean readings good", f"{result.clean_good_share:.1%} of {result.clean_readings:,}  (limit: 97 %)"),
        (
            "fast faults flagged",
            f"{result.fast_faults - len(result.fast_faults_unflagged) - result.fast_faults_unscored}"
            f" of {result.fast_faults}  (limit: all)",
        ),
        (
            "DO drop -> alert on WebSocket",
            f"{result.alert_latency_s:.0f} s" if result.alert_latency_s is not None else "no alert arrived",
        ),
        (
            "station_latest moved",
            f"{len(result.latest_moves)} times; future-stamped latest: {result.future_latest}",
        ),
        ("WebSocket messages", f"{result.websocket_messages:,}"),
    ]
    rows += [
        (f"memory {name}", f"{start:.0f} MB -> {end:.0f} MB")
        for name, (start, end) in result.memory_mb.items()
    ]
    report("Soak: live path + Dagster daemon", rows)
    for failure in result.runs_failed:
        print(f"  failed run: {failure}")
    ok = not result.runs_failed and result.clean_good_share >= 0.97 and not result.fast_faults_unflagged
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
