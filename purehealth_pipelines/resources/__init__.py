"""Dagster resources: the warehouse (TimescaleDB) and, per domain, the clients of the outside world."""

from purehealth_pipelines.resources.warehouse import PartitionWrite, WarehouseResource

__all__ = ["PartitionWrite", "WarehouseResource"]
