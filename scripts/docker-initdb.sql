-- Run once by the timescale/timescaledb image on first start: the Dagster storage database.
CREATE DATABASE purehealth_dagster OWNER purehealth;
