"""The TimescaleDB warehouse: migrations, the partition writer, roles and retention."""
