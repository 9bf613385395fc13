"""Offline demo publishers: deterministic generators that speak each source's real published format.

They are plugged in at the I/O boundary (an httpx.MockTransport, a generated .grd file, a fake Earth Engine
compute call), so the real clients and parsers run unchanged in demo mode.
"""
