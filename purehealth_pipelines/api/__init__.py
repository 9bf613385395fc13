"""The read API and the live dashboard: `purehealth api`."""
