"""What analysts and dashboards read: rollups, station WQI, status, alerts."""
