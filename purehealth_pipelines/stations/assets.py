"""`ref.stations`: every monitoring station the platform knows, one row each."""

import dagster as dg

from purehealth_pipelines.asset_keys import REF_STATIONS
from purehealth_pipelines.resources import WarehouseResource
from purehealth_pipelines.stations.registry import load_registry
from purehealth_pipelines.table_metadata import table_schema_metadata


@dg.asset(
    key=REF_STATIONS,
    group_name="reference",
    description=(
        "Monitoring stations in Maharashtra: CPCB NWMP river stations (codes and names from the NWMP tables "
        "2012–2023), CWC water-quality stations with coordinates (India-WRIS), and the live IoT sensor "
        "stations. Stations are rows, not partitions; ids are stable strings such as 'NWMP-1153'."
    ),
)
def stations(warehouse: WarehouseResource) -> dg.MaterializeResult:
    registry = load_registry()
    written = warehouse.replace_table("ref.stations", registry)
    by_network = registry["network"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            **{f"stations_{network.lower()}": int(count) for network, count in by_network.items()},
            "with_coordinates": int(registry["latitude"].notna().sum()),
            **{
                f"location_{source}": int(count)
                for source, count in registry["location_source"].value_counts().items()
            },
            **table_schema_metadata(warehouse, "ref.stations"),
        }
    )


defs = dg.Definitions(assets=[stations])
