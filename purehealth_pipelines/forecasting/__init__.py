"""LightGBM forecasts: features, models, backtests, forecasts."""
