-- Failed Dagster runs, recorded by the run-failure sensor (purehealth_pipelines/monitoring/sensors.py), so a
-- failing mart is visible outside the Runs page: in SQL, and to whatever notifies people of failures.
CREATE TABLE ops.run_failures (
    run_id       text NOT NULL,
    attempt      integer NOT NULL DEFAULT 0,          -- dagster/retry_number (run_retries re-launch a failure)
    job_name     text NOT NULL,
    asset_keys   text[] NOT NULL DEFAULT '{}',
    partition    text,                                -- dagster/partition, or "start..end" of a range
    message      text NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id)
);
CREATE INDEX run_failures_failed_at ON ops.run_failures (failed_at DESC);
