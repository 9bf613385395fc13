"""The report's figures, drawn with matplotlib's object API (no pyplot state) and returned as PNG bytes.

A figure is drawn per station page, so StationPlotter draws its axes once and blits each station's data
onto them (300 stations in the bench).
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
from PIL import Image as PILImage

from purehealth_pipelines.indices import class_criteria
from purehealth_pipelines.reports.geography import Districts
from purehealth_pipelines.vocabulary import TIMEZONE

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
    """Draws station pages' figures: monthly WQI and the parameters against the designated class's criteria.

    Every page has the same axes on fixed scales (so pages compare at a glance), which lets the figure be
    drawn once and blitted: the static background (axes, ticks, labels, band lines) is rendered one time,
    and each station only draws its own bars, lines and limits on top of a copy of it. Drawing all five axes
    per station cost ~0.5 s a page here (text layout of the tick labels); blitting is what makes a
    300-station report practical.
    """

    PANELS = (  # (limit parameter, title, series, y-limits, log scale)
        ("do_mg_l", "DO (mg/l)", ("do_mg_l",), (0.0, 14.0), False),
        ("bod_mg_l", "BOD (mg/l)", ("bod_mg_l",), (0.5, 100.0), True),
        ("ph", "pH", ("ph",), (5.0, 10.0), False),
        ("tc_mpn_100ml", "Coliform (MPN/100 ml)", ("fc_mpn_100ml", "tc_mpn_100ml"), (1.0, 1e5), True),
    )

    def __init__(self, fy_start_year: int, dpi: int = 100) -> None:
        self.dpi = dpi
        self.figure = Figure(figsize=(7.0, 5.0), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(2, 4, height_ratios=[1.3, 1.0], hspace=0.5, wspace=0.5)
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
        top.set_xlim(-0.6, 11.6)
        top.set_ylim(0, 100)
        top.set_ylabel("WQI", fontsize=8)
        top.tick_params(labelsize=7)
        top.set_title(
            f"Monthly WQI {fy_start_year}-{(fy_start_year + 1) % 100:02d} (bands 38 / 50 / 63)", fontsize=9
        )
        self.axes = [top]
        self.panels = []
        for column, (limit_parameter, label, series, ylim, log) in enumerate(self.PANELS):
            axes = self.figure.add_subplot(grid[1, column])
            if log:
                axes.set_yscale("log")
                axes.yaxis.set_minor_locator(NullLocator())
            axes.set_xlim(-0.5, 11.5)
            axes.set_ylim(*ylim)
            lines = [
                axes.plot(
                    x, np.full(12, np.nan), marker=m, markersize=2.5, linewidth=0.8, label=name[:2].upper()
                )[0]
                for name, m in zip(series, ("o", "s"), strict=False)
            ]
            limits = [axes.axhline(ylim[0], color="#d73027", linewidth=0.8, linestyle=":") for _ in range(2)]
            if len(series) > 1:
                axes.legend(handles=lines, fontsize=5, loc="upper left")
            axes.set_title(label, fontsize=7)
            axes.set_xticks([0, 3, 6, 9], ["Apr", "Jul", "Oct", "Jan"], fontsize=6)
            axes.tick_params(labelsize=6)
            self.axes.append(axes)
            self.panels.append((axes, limit_parameter, series, ylim, lines, limits))
        self.caption = self.figure.text(0.5, 0.01, "", ha="center", fontsize=6.5)
        self.dynamic = [*self.bars, *self.no_wqi, self.caption]
        for *_, lines, limits in self.panels:
            self.dynamic += [*lines, *limits]
        for artist in self.dynamic:
            artist.set_animated(True)  # left out of the background
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def draw(self, monthly: pd.DataFrame, designated_class: str) -> bytes:
        """``monthly``: the station's mart.station_wqi_monthly rows of the year (values off a panel's fixed
        scale are drawn at its edge)."""
        months = pd.to_datetime(monthly["month"], utc=True).dt.tz_convert(TIMEZONE)
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
        criteria = {c.parameter: c for c in class_criteria(designated_class)}
        for _, limit_parameter, series, (low, high), lines, limits in self.panels:
            for name, line in zip(series, lines, strict=True):
                data = np.full(12, np.nan)
                data[position] = monthly[name].to_numpy(dtype=float)
                line.set_ydata(np.clip(data, low, high))
            criterion = criteria.get(limit_parameter)
            bounds = [criterion.minimum, criterion.maximum] if criterion is not None else [None, None]
            for limit, bound in zip(limits, bounds, strict=True):
                limit.set_visible(bound is not None)
                if bound is not None:
                    limit.set_ydata([bound, bound])
        self.caption.set_text(
            f"dotted red: class {designated_class} criteria (CPCB); the coliform limit is on total coliform"
        )
        self.canvas.restore_region(self.background)
        for artist in self.dynamic:
            if artist.get_visible():
                self.figure.draw_artist(artist)
        image = PILImage.frombuffer(
            "RGBA", self.canvas.get_width_height(), bytes(self.canvas.buffer_rgba()), "raw", "RGBA", 0, 1
        )
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=3)
        return buffer.getvalue()


__all__ = ["CLASS_COLOURS", "StationPlotter", "class_distribution_figure", "colour", "map_figure"]
