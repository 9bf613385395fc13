"""PureHealth Pipelines: a Dagster code location for water-quality monitoring in Maharashtra."""
