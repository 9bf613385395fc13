"""Government and satellite sources: CPCB, MPCB, CWC, IMD, Earth Engine -> raw.* assets."""
