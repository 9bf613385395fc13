"""Left running, the platform stays right, in a bounded soak of a few minutes.

The live path (bridge, broadcaster), `dagster-daemon` with the real sensors and automation, and the simulator
with injected faults run as separate processes over a throwaway warehouse; see soak.py for what is measured.
`bench/bench_soak.py` runs the same for 30 minutes and prints the figures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from purehealth_pipelines_tests.conftest import create_test_database, drop_test_database
from purehealth_pipelines_tests.live.helpers import unique
from purehealth_pipelines_tests.live.soak import Soak, SoakConfig, dagster_storage_url


@pytest.fixture
def soak(admin_url: str, mqtt_broker, tmp_path) -> Iterator[Soak]:
    warehouse = create_test_database(admin_url, migrated=True)
    storage = create_test_database(admin_url, migrated=False)
    harness = Soak(
        SoakConfig(
            warehouse_url=warehouse,
            dagster_storage_url=dagster_storage_url(storage),
            workdir=tmp_path,
            publish_seconds=180,
            settle_seconds=240,
            prefix=unique("S").upper().replace("-", ""),
        )
    )
    try:
        yield harness
    finally:
        harness.stop()
        drop_test_database(admin_url, storage)
        drop_test_database(admin_url, warehouse)


@pytest.mark.slow
def test_soak_live_path_and_daemon_stay_right(soak: Soak) -> None:
    soak.prepare()
    soak.start()
    result = soak.run()
    diagnostics = "\n".join(
        f"--- {name}\n{soak.log_tail(name)}" for name in ("daemon", "bridge", "simulator")
    )
    assert result.runs_failed == [], diagnostics
    assert result.runs_succeeded >= 3, diagnostics  # the sensors really drove runs
    assert result.clean_readings > 500
    assert result.clean_good_share >= 0.97, result
    assert result.fast_faults > 0 and result.fast_faults_unscored == 0, result
    assert result.fast_faults_unflagged == [], result.fast_faults_unflagged[:10]
    assert result.alert_latency_s is not None, f"no DO alert reached the WebSocket\n{diagnostics}"
    assert len(result.latest_moves) >= 3, result.latest_moves  # mart.station_latest kept moving
    assert result.future_latest == 0
