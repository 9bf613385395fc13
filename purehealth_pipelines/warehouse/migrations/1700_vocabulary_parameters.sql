-- ref.parameters gains the CPCB designated-best-use criteria parameters that lab sources report and
-- core.readings already accepts (purehealth_pipelines/vocabulary.py is the one list; test_vocabulary.py
-- checks this table agrees with it).
INSERT INTO ref.parameters (code, name, unit, description) VALUES
    ('free_ammonia_n_mg_l', 'Free ammonia (as N)',      'mg/L', 'CPCB best-use class D criterion (fish culture: ≤ 1.2)'),
    ('boron_mg_l',          'Boron',                    'mg/L', 'CPCB best-use class E criterion (irrigation: ≤ 2)'),
    ('sar',                 'Sodium absorption ratio',  '1',    'CPCB best-use class E criterion (irrigation: ≤ 26)')
ON CONFLICT (code) DO NOTHING;
