"""The live path inside Dagster: the sensor over raw.sensor_readings."""
