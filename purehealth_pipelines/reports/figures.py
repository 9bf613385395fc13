"""The report's figures, drawn with matplotlib's object API (no pyplot state) and returned as PNG bytes.

One station page figure is drawn per station, so the station plotter keeps a single Figure and clears it
between stations: building a new Figure each time costs more than drawing the data (300 stations in the
bench).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from purehealth_pipelines.indices import class_criteria
from purehealth_pipelines.reports.geography import Districts

CLASS_COLOURS = {"A": "#1a9850", "B": "#91cf60", "C": "#fc8d59", "D/E": "#d73027"}
NO_CLASS_COLOUR = "#9e9e9e"
FY_MONTHS = ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar"]
DPI = 110


def _png(figure: Figure, dpi: int = DPI) -> bytes:
    buffer = io.BytesIO()
    if figure.canvas is None or not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def colour(letter: object) -> str:
    return CLASS_COLOURS.get(str(letter), NO_CLASS_COLOUR) if isinstance(letter, str) else NO_CLASS_COLOUR


def map_figure(positions: pd.DataFrame, districts: Districts | None, title: str) -> bytes:
    """Maharashtra's districts, stations coloured by the class of their annual mean WQI."""
    figure = Figure(figsize=(7.2, 6.0))
    axes = figure.add_subplot(1, 1, 1)
    if districts is not None:
        polygons = [ring for rings in districts.rings for ring in rings]
        axes.add_collection(
            PolyCollection(polygons, facecolors="#f4f1ea", edgecolors="#8d8d8d", linewidths=0.5)
        )
        for name, (x, y) in districts.points.items():
            axes.annotate(name.title(), (x, y), fontsize=4.5, color="#6d6d6d", ha="center", va="center")
    placed = positions.dropna(subset=["lon", "lat"])
    for letter in [*CLASS_COLOURS, None]:
        subset = (
            placed[placed["wqi_class"].isna()] if letter is None else placed[placed["wqi_class"] == letter]
        )
        if subset.empty:
            continue
        axes.scatter(
            subset["lon"],
            subset["lat"],
            s=22,
            c=colour(letter),
            edgecolors="black",
            linewidths=0.4,
            marker="o",
            zorder=3,
        )
    handles = [
        Line2D(
            [], [], marker="o", linestyle="", markerfacecolor=c, markeredgecolor="black", label=f"Class {k}"
        )
        for k, c in CLASS_COLOURS.items()
    ] + [Line2D([], [], marker="o", linestyle="", markerfacecolor=NO_CLASS_COLOUR, label="no WQI")]
    axes.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)
    axes.set_title(title, fontsize=10)
    axes.set_xlim(72.4, 81.1)
    axes.set_ylim(15.4, 22.3)
    axes.set_aspect(1.0 / np.cos(np.radians(19.0)))
    axes.set_xlabel("longitude (°E)", fontsize=7)
    axes.set_ylabel("latitude (°N)", fontsize=7)
    axes.tick_params(labelsize=6)
    figure.tight_layout()
    return _png(figure, dpi=150)


def class_distribution_figure(distribution: pd.DataFrame) -> bytes:
    """Share of stations and of samples per WQI class, side by side."""
    figure = Figure(figsize=(6.5, 2.4))
    axes = figure.add_subplot(1, 1, 1)
    x = np.arange(len(distribution))
    colours = [colour(c) for c in distribution["class"]]
    axes.bar(
        x - 0.2, distribution["stations_pct"], width=0.38, color=colours, edgecolor="black", label="stations"
    )
    axes.bar(
        x + 0.2,
        distribution["samples_pct"],
        width=0.38,
        color=colours,
        edgecolor="black",
        hatch="//",
        label="samples",
    )
    axes.set_xticks(
        x, [f"{c}\n{label}" for c, label in zip(distribution["class"], distribution["label"], strict=True)]
    )
    axes.set_ylabel("% of total", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return _png(figure)


class StationPlotter:
    """Draws station pages' figures: monthly WQI and the parameters against criteria.

    The axes, bars, lines and labels are built once; each station only changes data, colours and limits.
    Re-creating five axes (and a log axis' minor ticks) per station cost ~1 s a page; updating costs a
    fraction of that, which is what makes a 300-station report practical.
    """

    PANELS = (
        ("do_mg_l", "DO (mg/l)", ("do_mg_l",)),
        ("bod_mg_l", "BOD (mg/l)", ("bod_mg_l",)),
        ("ph", "pH", ("ph",)),
        ("tc_mpn_100ml", "Coliform (MPN/100 ml)", ("fc_mpn_100ml", "tc_mpn_100ml")),
    )

    def __init__(self) -> None:
        self.figure = Figure(figsize=(7.0, 5.0))
        FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(2, 4, height_ratios=[1.3, 1.0], hspace=0.5, wspace=0.45)
        x = np.arange(12)
        top = self.figure.add_subplot(grid[0, :])
        self.bars = top.bar(x, np.zeros(12), color=NO_CLASS_COLOUR, edgecolor="black", linewidth=0.4)
        for level in (38, 50, 63):
            top.axhline(level, color="#555555", linewidth=0.6, linestyle="--")
        self.no_wqi = [
            top.text(i, 2, "no WQI", rotation=90, fontsize=6, ha="center", va="bottom", color="#555555")
            for i in x
        ]
        top.set_xticks(x, FY_MONTHS, fontsize=7)
        top.set_ylim(0, 100)
        top.set_ylabel("WQI", fontsize=8)
        top.tick_params(labelsize=7)
        self.top = top
        self.panels = []
        for column, (limit_parameter, label, series) in enumerate(self.PANELS):
            axes = self.figure.add_subplot(grid[1, column])
            lines = [
                axes.plot(x, np.ones(12), marker=m, markersize=2.5, linewidth=0.8, label=name[:2].upper())[0]
                for name, m in zip(series, ("o", "s"), strict=False)
            ]
            limits = [axes.axhline(0, color="#d73027", linewidth=0.8, linestyle=":") for _ in range(2)]
            if len(series) > 1:
                axes.set_yscale("log")
                axes.yaxis.set_minor_locator(NullLocator())
                axes.legend(fontsize=5, loc="upper left")
            axes.set_title(label, fontsize=7)
            axes.set_xticks([0, 3, 6, 9], ["Apr", "Jul", "Oct", "Jan"], fontsize=6)
            axes.tick_params(labelsize=6)
            self.panels.append((axes, limit_parameter, series, lines, limits))
        self.caption = self.figure.text(0.5, 0.01, "", ha="center", fontsize=6.5)

    def draw(self, monthly: pd.DataFrame, fy_start_year: int, designated_class: str) -> bytes:
        """``monthly``: the station's mart.station_wqi_monthly rows of the year."""
        months = pd.to_datetime(monthly["month"], utc=True).dt.tz_convert("Asia/Kolkata")
        position = ((months.dt.month - 4) % 12).to_numpy()
        values = np.full(12, np.nan)
        classes: list[object] = [None] * 12
        for pos, wqi, letter in zip(position, monthly["wqi"], monthly["wqi_class"], strict=True):
            values[pos] = wqi
            classes[pos] = letter
        for bar, value, letter, label in zip(self.bars, values, classes, self.no_wqi, strict=True):
            bar.set_height(0.0 if np.isnan(value) else value)
            bar.set_facecolor(colour(letter))
            label.set_visible(bool(np.isnan(value)))
        self.top.set_title(
            f"Monthly WQI {fy_start_year}-{(fy_start_year + 1) % 100:02d} (bands 38 / 50 / 63)", fontsize=9
        )
        criteria = {c.parameter: c for c in class_criteria(designated_class)}
        for axes, limit_parameter, series, lines, limits in self.panels:
            shown = []
            for name, line in zip(series, lines, strict=True):
                data = np.full(12, np.nan)
                data[position] = monthly[name].to_numpy(dtype=float)
                line.set_ydata(data)
                shown.append(data)
            criterion = criteria.get(limit_parameter)
            bounds = [criterion.minimum, criterion.maximum] if criterion is not None else [None, None]
            for limit, bound in zip(limits, bounds, strict=True):
                limit.set_visible(bound is not None)
                if bound is not None:
                    limit.set_ydata([bound, bound])
                    shown.append(np.array([bound]))
            finite = np.concatenate(shown)
            finite = finite[np.isfinite(finite) & ((finite > 0) if axes.get_yscale() == "log" else True)]
            if finite.size:
                low, high = float(finite.min()), float(finite.max())
                if axes.get_yscale() == "log":
                    axes.set_ylim(low / 2, high * 2)
                else:
                    pad = max((high - low) * 0.15, 0.2)
                    axes.set_ylim(low - pad, high + pad)
        self.caption.set_text(
            f"dotted red: class {designated_class} criteria (CPCB); the coliform limit is on total coliform"
        )
        return _png(self.figure, dpi=100)


__all__ = ["CLASS_COLOURS", "StationPlotter", "class_distribution_figure", "colour", "map_figure"]
