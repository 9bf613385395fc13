-- Column descriptions for the drift test's columns (0800); see 0530_column_comments.sql for why they live here.
COMMENT ON COLUMN core.readings.qc_drift IS 'model-based drift test flag (quality/drift.py): 3 when the 24 h median departs from the station reference';
COMMENT ON COLUMN core.qc_drift_reference.version IS 'drift reference version (drift-<UTC time learned>)';
COMMENT ON COLUMN core.qc_drift_reference.station_id IS 'ref.stations.station_id';
COMMENT ON COLUMN core.qc_drift_reference.parameter IS 'parameter code the reference judges';
COMMENT ON COLUMN core.qc_drift_reference.model IS 'saturation (DO predicted from temperature) or history';
COMMENT ON COLUMN core.qc_drift_reference.ratio IS 'saturation model: the station''s DO / saturation DO at the water temperature';
COMMENT ON COLUMN core.qc_drift_reference.center IS 'median of the window statistic over the history';
COMMENT ON COLUMN core.qc_drift_reference.scale IS 'robust scale of that statistic (1.4826 MAD)';
COMMENT ON COLUMN core.qc_drift_reference.threshold IS 'departure that is suspect: max(k x scale, floor)';
COMMENT ON COLUMN core.qc_drift_reference.n_windows IS 'history bins the reference was learned from';
COMMENT ON COLUMN core.qc_drift_reference.history_start IS 'first reading of the history used';
COMMENT ON COLUMN core.qc_drift_reference.history_end IS 'last reading of the history used';
COMMENT ON COLUMN core.qc_drift_reference.learned_at IS 'when the reference was learned';
