"""Quality scoring (QARTOD, great-expectations) -> core.readings."""
