-- Read API / dashboard (issue 14): where each station's coordinates come from, so a map can draw approximate
-- locations as approximate. Filled by the ref/stations asset from the committed registry
-- (purehealth_pipelines/stations/stations.csv, derived by scripts/locate_stations.py).
--   agency    coordinates published by the agency with the station (CWC / India-WRIS)
--   project   a live sensor sited by this project at a named place
--   gazetteer the village / place / taluka in the station's name, matched to India Post's office coordinates
--   district  only the district is known: a point inside it (approximate)
--   unknown   no coordinates
ALTER TABLE ref.stations
    ADD COLUMN location_source text NOT NULL DEFAULT 'unknown'
        CHECK (location_source IN ('agency', 'project', 'gazetteer', 'district', 'unknown')),
    ADD COLUMN location_detail text,
    ADD COLUMN location_uncertainty_km double precision CHECK (location_uncertainty_km >= 0);
ALTER TABLE ref.stations ADD CONSTRAINT stations_located_has_coordinates
    CHECK (location_source = 'unknown' OR (latitude IS NOT NULL AND longitude IS NOT NULL));
COMMENT ON COLUMN ref.stations.location_source IS
    'agency | project | gazetteer | district (approximate) | unknown: where latitude/longitude come from';
COMMENT ON COLUMN ref.stations.location_uncertainty_km IS
    'rough radius within which the monitoring point lies (published precision, village, district size)';
