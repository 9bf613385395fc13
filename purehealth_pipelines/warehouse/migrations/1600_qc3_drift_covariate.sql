-- Issue 18 (qc3): the drift test's cross-parameter model ("covariate": log of the reading from the log of a
-- co-measured parameter, e.g. turbidity from conductivity) needs no new column: its one fitted coefficient,
-- the station's slope, travels in `ratio` and its intercept is `center`. Only the descriptions change.
COMMENT ON COLUMN core.qc_drift_reference.model IS 'saturation (DO predicted from temperature), covariate (log value from the log of a co-measured parameter) or history';
COMMENT ON COLUMN core.qc_drift_reference.ratio IS 'saturation model: the station''s DO / saturation DO at the water temperature; covariate model: the station''s Theil-Sen slope of log value on log covariate; NULL for history';
