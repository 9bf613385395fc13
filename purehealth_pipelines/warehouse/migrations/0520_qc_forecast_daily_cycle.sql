-- Issue 18: forecast features that carry the daily cycle to longer horizons (features.py:
-- seasonal_minus_now_{h}h = value 24 h before the target minus now; yesterday_change_{h}h = how the series
-- moved over the same hours yesterday), stored with the other features of ml/forecast_features.
ALTER TABLE ml.forecast_features
    ADD COLUMN IF NOT EXISTS seasonal_minus_now_1h double precision,
    ADD COLUMN IF NOT EXISTS yesterday_change_1h double precision,
    ADD COLUMN IF NOT EXISTS seasonal_minus_now_6h double precision,
    ADD COLUMN IF NOT EXISTS yesterday_change_6h double precision;
