-- Sources held against the real publishers' bytes (issue 12).

-- India-WRIS returns every datatype of a station (observed QOB / computed QCO discharge, several level
-- series): keep which one a landed reading is (NULL = the response carried no datatypeCode).
ALTER TABLE raw.cwc_river_levels ADD COLUMN IF NOT EXISTS datatype_code text;

-- CPCB NWMP tables in other real layouts publish one annual value per parameter without saying which
-- statistic it is ('D.O. (mg/l)', 'PH'): statistic 'value'. Like min/max it is not a sample at an instant.
ALTER TABLE raw.cpcb_nwmp DROP CONSTRAINT IF EXISTS cpcb_nwmp_statistic_check;
ALTER TABLE raw.cpcb_nwmp
    ADD CONSTRAINT cpcb_nwmp_statistic_check CHECK (statistic IN ('min', 'max', 'mean', 'value'));
INSERT INTO ref.source_priority (source, source_class, priority, is_observation, description) VALUES
    ('cpcb_nwmp_value', 'government', 2, false,
     'CPCB NWMP single annual value, statistic not stated by the table')
ON CONFLICT (source) DO NOTHING;
