"""The read API and the live dashboard (issue 14): `purehealth api`."""
