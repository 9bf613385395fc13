"""The code location: assembles each domain's Definitions, binds the shared resources and applies the house
conventions for assets. Nothing else.

Domain modules are imported as modules (not their `defs` objects): Dagster allows one Definitions object at
module scope of the code location. Each domain names its own group (the domain is the group); who owns an
asset and what it is made of are the same for nearly all of them, so they are set here, once, and an asset
declares kinds only where it differs (forecasts add lightgbm, the report is PDF + Excel, the live feed MQTT).
"""

import warnings

import dagster as dg

import purehealth_pipelines.forecasting.definitions as forecasting
import purehealth_pipelines.live.definitions as live
import purehealth_pipelines.marts.definitions as marts
import purehealth_pipelines.monitoring.sensors as monitoring
import purehealth_pipelines.quality.definitions as quality
import purehealth_pipelines.reports.assets as reports
import purehealth_pipelines.sources.definitions as sources
import purehealth_pipelines.stations.assets as stations
import purehealth_pipelines.warehouse.jobs as warehouse_jobs
from purehealth_pipelines.resources import WarehouseResource

DATA_TEAM = "team:purehealth-data"
DEFAULT_KINDS = frozenset({"timescaledb", "python"})


def house_conventions(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The data team owns every asset; an asset is a TimescaleDB table written by Python unless it says."""
    return spec.replace_attributes(owners=spec.owners or [DATA_TEAM], kinds=spec.kinds or set(DEFAULT_KINDS))


def _assemble() -> dg.Definitions:
    """The domains merged, with the house conventions applied.

    Built inside a function: Dagster refuses a code location module with more than one Definitions object at
    module scope, so the intermediate merge must not be a module global.
    """
    domains = dg.Definitions.merge(
        stations.defs,
        warehouse_jobs.defs,
        sources.defs,
        live.defs,
        quality.defs,
        marts.defs,
        forecasting.defs,
        reports.defs,
        monitoring.defs,
        # In-process: each of our runs is one or a few light steps that mostly wait on PostgreSQL. The
        # default multiprocess executor started a Python process per step (5-10 s each on 2 cores, seen in the
        # soak), so a live tick took 30-120 s to reach the marts; in-process the whole chain is a few seconds.
        # Runs print to the console of whoever launched them (`dagster dev`, the daemon) at INFO, not DEBUG:
        # the live path starts a run a minute, and its engine events flooded the demo's console. The UI's run
        # logs keep every event whatever this level.
        dg.Definitions(
            resources={"warehouse": WarehouseResource()},
            executor=dg.in_process_executor,
            loggers={"console": dg.colored_console_logger.configured({"log_level": "INFO"})},
        ),
    )
    # `map_asset_specs` is marked preview (it may change in a Dagster patch release), which would print a
    # warning on every load of the code location. The graph snapshot test (purehealth_pipelines_tests/
    # test_graph_snapshot.py) pins what it produces, so a behaviour change in an upgrade fails there instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return domains.map_asset_specs(func=house_conventions)


defs = _assemble()
