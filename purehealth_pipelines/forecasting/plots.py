"""A forecast-vs-actual plot as a small inline SVG for Dagster markdown metadata.

matplotlib is not a dependency of the project (and not installed); a hand-written SVG with a P10–P90 band,
the P50 line and the actuals needs none, renders in the Dagster UI's markdown as a data-URI image, and stays
a few kilobytes.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

WIDTH, HEIGHT, PAD = 640, 220, 36


def forecast_vs_actual_svg(frame: pd.DataFrame, title: str) -> str:
    """SVG of `frame` (columns ts, actual, p10, p50, p90), sorted by ts."""
    frame = frame.sort_values("ts").dropna(subset=["p50"])
    if frame.empty:
        return ""
    x_ns = pd.to_datetime(frame["ts"], utc=True).astype("int64").to_numpy(dtype="float64")
    values = frame[["actual", "p10", "p50", "p90"]].to_numpy(dtype="float64")
    low, high = np.nanmin(values), np.nanmax(values)
    span_x = max(x_ns.max() - x_ns.min(), 1.0)
    span_y = max(high - low, 1e-9)

    def px(x: np.ndarray) -> np.ndarray:
        return PAD + (x - x_ns.min()) / span_x * (WIDTH - 2 * PAD)

    def py(y: np.ndarray) -> np.ndarray:
        return HEIGHT - PAD - (y - low) / span_y * (HEIGHT - 2 * PAD)

    def path(y: np.ndarray) -> str:
        points = [f"{a:.1f},{b:.1f}" for a, b in zip(px(x_ns), py(y), strict=True) if not np.isnan(b)]
        return " ".join(points)

    band_top = [f"{a:.1f},{b:.1f}" for a, b in zip(px(x_ns), py(values[:, 3]), strict=True)]
    band_bottom = [f"{a:.1f},{b:.1f}" for a, b in zip(px(x_ns), py(values[:, 1]), strict=True)][::-1]
    first, last = pd.Timestamp(frame["ts"].iloc[0]), pd.Timestamp(frame["ts"].iloc[-1])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>'
        f'<text x="{PAD}" y="16">{title}</text>'
        f'<polygon points="{" ".join(band_top + band_bottom)}" fill="#9ecae1" fill-opacity="0.5"/>'
        f'<polyline points="{path(values[:, 2])}" fill="none" stroke="#08519c" stroke-width="1.5"/>'
        f'<polyline points="{path(values[:, 0])}" fill="none" stroke="#d94801" stroke-width="1"/>'
        f'<text x="{PAD}" y="{HEIGHT - 8}">{first:%Y-%m-%d %H:%M}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{last:%Y-%m-%d %H:%M} UTC</text>'
        f'<text x="4" y="{PAD}">{high:.2f}</text><text x="4" y="{HEIGHT - PAD}">{low:.2f}</text>'
        f'<text x="{WIDTH - PAD}" y="16" text-anchor="end" fill="#d94801">actual</text>'
        f'<text x="{WIDTH - PAD - 50}" y="16" text-anchor="end" fill="#08519c">P50 (band P10–P90)</text>'
        "</svg>"
    )


def svg_markdown(svg: str, alt: str) -> str:
    """Embed an SVG in markdown as a data-URI image."""
    if not svg:
        return f"_{alt}: no data_"
    encoded = base64.b64encode(svg.encode()).decode()
    return f"![{alt}](data:image/svg+xml;base64,{encoded})"
