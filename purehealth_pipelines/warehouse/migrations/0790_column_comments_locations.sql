-- Column descriptions for columns added after 0530 (see 0530_column_comments.sql for why they live here).
COMMENT ON COLUMN ref.stations.location_detail IS 'how the coordinates were derived (agency record, gazetteer match, district point)';
