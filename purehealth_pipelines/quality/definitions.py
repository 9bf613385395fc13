"""Definitions of the quality domain (assembled by purehealth_pipelines.definitions)."""

import dagster as dg

defs = dg.Definitions()
