-- Issue 18 (qc2): the model-based drift test (quality/drift.py). Its per-reading flag is a column of its
-- own beside the QARTOD tests' (same flag values: 1 pass, 2 not evaluated, 3 suspect, 9 missing; the test
-- never fails a reading), and the per-station references it compares with are learned from history by
-- ["core","qc_drift_reference"]: each learning run is a new version, older ones are kept so a scored row
-- can be explained (core.readings.qc_version names the version that judged it).
ALTER TABLE core.readings ADD COLUMN IF NOT EXISTS qc_drift smallint;

CREATE TABLE IF NOT EXISTS core.qc_drift_reference (
    version        text NOT NULL,               -- e.g. 'drift-20260601T030000Z'
    station_id     text NOT NULL,
    parameter      text NOT NULL,
    model          text NOT NULL,               -- 'saturation' (DO from temperature) or 'history'
    ratio          double precision,            -- saturation: the station's DO / Cs(T); NULL otherwise
    center         double precision NOT NULL,   -- median of the window statistic over the history
    scale          double precision NOT NULL,   -- its robust scale (1.4826 MAD, one trimmed re-estimate)
    threshold      double precision NOT NULL,   -- max(k * scale, floor): the departure that is suspect
    n_windows      integer NOT NULL,            -- bins of history the reference was learned from
    history_start  timestamptz,
    history_end    timestamptz,
    learned_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, station_id, parameter)
);
CREATE INDEX IF NOT EXISTS qc_drift_reference_learned_at ON core.qc_drift_reference (learned_at DESC);

CREATE OR REPLACE VIEW core.qc_drift_reference_current AS
SELECT r.* FROM core.qc_drift_reference r
WHERE r.version = (
    SELECT version FROM core.qc_drift_reference ORDER BY learned_at DESC, version DESC LIMIT 1
);
