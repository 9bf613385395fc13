"""Render one financial year as MPCB publishes it: a PDF (ReportLab) and an Excel workbook (openpyxl).

Both are drawn from the same :class:`~purehealth_pipelines.reports.year.ReportYear`, so the workbook's
"Stations" sheet carries exactly the numbers of mart.station_wqi_annual and the PDF shows the same ones
rounded for reading. Fonts: DejaVu Sans from matplotlib's own data folder (it has ≥, µ, –, which ReportLab's
built-in Helvetica lacks), so nothing extra is installed or fetched.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from purehealth_pipelines.indices import CPCB_BEST_USE_CLASSES
from purehealth_pipelines.marts.wqi_annual import ANNUAL_COLUMNS
from purehealth_pipelines.reports import figures
from purehealth_pipelines.reports import year as report_year
from purehealth_pipelines.reports.geography import load_districts, station_positions
from purehealth_pipelines.vocabulary import TIMEZONE

FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
Progress = Callable[[str, int, int], None]  # (step, done, total)


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))


@dataclass
class RenderedReport:
    """What was written, for the asset's metadata and the CLI."""

    pdf_path: Path
    workbook_path: Path
    preview_path: Path
    pages: int
    stations: int
    seconds: float
    page_index: dict[str, int] = field(default_factory=dict)  # section -> first page (1-based)


def _styles() -> dict[str, ParagraphStyle]:
    _register_fonts()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=FONT_BOLD, fontSize=18, leading=22),
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontName=FONT_BOLD, fontSize=14, leading=18),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=FONT_BOLD, fontSize=11, leading=14),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=8.5, leading=11),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontName=FONT, fontSize=7, leading=9),
        "cell": ParagraphStyle("cell", fontName=FONT, fontSize=7, leading=8.5),
        "center": ParagraphStyle("center", fontName=FONT, fontSize=8, alignment=TA_CENTER),
    }


def _fmt(value: object, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(rows: list[list[object]], widths: list[float] | None = None, header_rows: int = 1) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=header_rows)
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 7),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9a9a9a")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header_rows:
        style += [
            ("FONT", (0, 0), (-1, header_rows - 1), FONT_BOLD, 7),
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#dfe8f1")),
        ]
    else:  # a key-value table: the labels (even columns) in bold
        style += [("FONT", (c, 0), (c, -1), FONT_BOLD, 7) for c in range(0, len(rows[0]), 2)]
    table.setStyle(TableStyle(style))
    return table


def _image(png: bytes, width_cm: float) -> Image:
    image = Image(io.BytesIO(png))
    ratio = image.imageHeight / image.imageWidth
    image.drawWidth = width_cm * cm
    image.drawHeight = width_cm * cm * ratio
    return image


class _Marker(Spacer):
    """A zero-height flowable that records the page it lands on (for the section index)."""

    def __init__(self, name: str, index: dict[str, int]) -> None:
        super().__init__(0, 0)
        self.name, self.index = name, index

    def draw(self) -> None:
        self.index.setdefault(self.name, self.canv.getPageNumber())


def _summary_section(data: report_year.ReportYear, styles, index) -> list:
    figures_ = report_year.summary(data)
    distribution = report_year.class_distribution(data)
    story: list = [
        _Marker("summary", index),
        Paragraph(f"Water Quality Status of Maharashtra {data.label}", styles["title"]),
        Paragraph(
            "Surface-water quality of the monitored rivers for the financial year April–March, from monthly "
            "lab samples (NWMP / MPCB stations): the CPCB/MPCB NSF-based water quality index per sample, its "
            "class, and the designated-best-use criteria. Built by PureHealth Pipelines from the warehouse "
            "marts mart.station_wqi_annual and mart.station_wqi_monthly.",
            styles["body"],
        ),
        Spacer(0, 0.3 * cm),
        Paragraph("Summary", styles["h1"]),
    ]
    rows = [
        ["Stations monitored", figures_["stations_monitored"], "Samples", figures_["samples"]],
        [
            "Stations with a WQI",
            figures_["stations_with_wqi"],
            "Samples with a WQI",
            figures_["samples_with_wqi"],
        ],
        ["Mean WQI of stations", _fmt(figures_["mean_wqi"]), "", ""],
        [
            "Class better than last year",
            figures_["better_than_last_year"],
            "Class worse than last year",
            figures_["worse_than_last_year"],
        ],
        [
            "Improving trend (p < 0.05)",
            figures_["improving_trend"],
            "Deteriorating trend (p < 0.05)",
            figures_["deteriorating_trend"],
        ],
        [
            "No significant trend",
            figures_["no_trend"],
            "Too few years for a trend",
            figures_["trend_not_assessed"],
        ],
    ]
    story += [
        _table(rows, [5.2 * cm, 2.5 * cm, 5.2 * cm, 2.5 * cm], header_rows=0),
        Spacer(0, 0.3 * cm),
    ]
    story.append(Paragraph("Class distribution", styles["h2"]))
    dist_rows = [["Class", "WQI band", "Stations", "% stations", "Samples", "% samples"]]
    for r in distribution.itertuples(index=False):
        dist_rows.append([r[0], r.label, r.stations, _fmt(r.stations_pct), r.samples, _fmt(r.samples_pct)])
    story += [_table(dist_rows), Spacer(0, 0.2 * cm)]
    story.append(_image(figures.class_distribution_figure(distribution), 15.5))
    changed = report_year.changed_stations(data)
    story.append(Paragraph("Stations that got better or worse", styles["h2"]))
    if changed.empty:
        story.append(Paragraph("No station changed class or shows a significant trend.", styles["body"]))
    else:
        rows = [["Station", "Last year", "This year", "Change", "Trend", "Sen's slope /yr", "p"]]
        for r in changed.itertuples(index=False):
            rows.append(
                [
                    r.station_id,
                    _fmt(r.previous_wqi_class),
                    _fmt(r.wqi_class),
                    _fmt(r.class_change),
                    _fmt(r.trend),
                    _fmt(r.trend_sen_slope, 2),
                    _fmt(r.trend_p_value, 3),
                ]
            )
        story.append(_table(rows))
    story.append(PageBreak())
    return story


def _map_section(data: report_year.ReportYear, styles, index) -> tuple[list, bytes]:
    districts = load_districts()
    positions = station_positions(data.annual, districts).merge(
        data.annual[["station_id", "wqi_class"]], on="station_id"
    )
    png = figures.map_figure(positions, districts, f"Stations by WQI class, {data.label}")
    by = positions["placed_by"].value_counts(dropna=False)
    approximate = int(
        (
            (positions["placed_by"] == "coordinates")
            & data.annual["location_source"].isin(["gazetteer", "district"]).to_numpy()
        ).sum()
    )
    caption = (
        f"{int(by.get('coordinates', 0))} stations at their registry coordinates ({approximate} of them "
        f"approximate: a gazetteer or district point), {int(by.get('district', 0))} drawn inside their "
        f"district (no coordinates), {int(positions['placed_by'].isna().sum())} without coordinates or "
        "district (not drawn). "
        + (
            f"District boundaries: {districts.source}."
            if districts is not None
            else "District boundaries unavailable (run make dashboard-assets to bundle them)."
        )
    )
    story = [
        _Marker("map", index),
        Paragraph("Map of monitoring stations", styles["h1"]),
        _image(png, 17.0),
        Paragraph(caption, styles["small"]),
        PageBreak(),
    ]
    return story, png


def _basin_section(data: report_year.ReportYear, styles, index) -> list:
    story: list = [_Marker("basins", index), Paragraph("Basins", styles["h1"])]
    basins = report_year.basin_table(data)
    rows = [["Basin", "Stations", "Samples", "Mean WQI", "A", "B", "C", "D/E"]]
    for r in basins.itertuples(index=False):
        rows.append([r.basin, r.stations, r.samples, _fmt(r.mean_wqi), r[4], r[5], r[6], r[7]])
    story += [_table(rows), Spacer(0, 0.3 * cm)]
    for basin, table in report_year.basin_station_tables(data).items():
        story.append(Paragraph(f"{basin} basin", styles["h2"]))
        rows = [["Station", "River", "District", "Samples", "Mean WQI", "Min", "Max", "Class"]]
        for r in table.itertuples(index=False):
            rows.append(
                [
                    r.station_id,
                    _fmt(r.river),
                    _fmt(r.district),
                    r.samples,
                    _fmt(r.wqi_mean),
                    _fmt(r.wqi_min),
                    _fmt(r.wqi_max),
                    _fmt(r.wqi_class),
                ]
            )
        story += [_table(rows), Spacer(0, 0.2 * cm)]
    story.append(PageBreak())
    return story


def _exceedance_section(data: report_year.ReportYear, styles, index) -> list:
    table = report_year.exceedance_table(data)
    exceeded = table[table["exceeded"] > 0]
    story: list = [
        _Marker("exceedances", index),
        Paragraph("Exceedances of the designated best-use criteria", styles["h1"]),
        Paragraph(
            f"Samples exceeding each CPCB criterion of the station's designated class ({len(exceeded)} of "
            f"{len(table)} station-criterion pairs had an exceedance; the workbook lists all).",
            styles["body"],
        ),
    ]
    rows = [["Station", "Designated class", "Criterion", "Samples exceeding", "Samples measured"]]
    for r in exceeded.itertuples(index=False):
        rows.append([r.station_id, r.designated_class, r.criterion, r.exceeded, r.measured])
    if len(rows) == 1:
        rows.append(["–", "–", "no exceedance", 0, 0])
    story += [_table(rows), PageBreak()]
    return story


def _station_pages(data: report_year.ReportYear, styles, index, progress: Progress | None) -> list:
    story: list = [_Marker("stations", index)]
    plotter = figures.StationPlotter(data.fy_start_year)
    monthly = {sid: frame for sid, frame in data.monthly.groupby("station_id")}
    total = len(data.annual)
    for done, row in enumerate(data.annual.itertuples(index=False), start=1):
        frame = monthly.get(row.station_id, data.monthly.iloc[0:0])
        story.append(Paragraph(f"Station {row.station_id}", styles["h1"]))
        where = ", ".join(str(v) for v in (row.river, row.district, row.basin) if isinstance(v, str))
        story.append(Paragraph(f"{_fmt(row.name)}" + (f" — {where}" if where else ""), styles["small"]))
        story.append(_image(plotter.draw(frame, row.designated_class), 17.0))
        exceedances = json.loads(row.exceedances) if isinstance(row.exceedances, str) else row.exceedances
        exceeded = "; ".join(f"{k}: {v['exceeded']}/{v['measured']}" for k, v in exceedances.items()) or "–"
        rows = [
            ["Samples", row.samples, "Mean WQI", _fmt(row.wqi_mean), "Class", _fmt(row.wqi_class)],
            [
                "Min WQI",
                _fmt(row.wqi_min),
                "Max WQI",
                _fmt(row.wqi_max),
                "Last year",
                _fmt(row.previous_wqi_class),
            ],
            [
                "Trend",
                _fmt(row.trend),
                "Sen's slope /yr",
                _fmt(row.trend_sen_slope, 2),
                "p",
                _fmt(row.trend_p_value, 3),
            ],
        ]
        story.append(_table(rows, header_rows=0))
        story.append(
            Paragraph(
                f"Designated class {row.designated_class} ({row.designation_source}); samples exceeding / "
                f"measured per criterion: {exceeded}",
                styles["small"],
            )
        )
        story.append(PageBreak())
        if progress is not None:
            progress("station pages", done, total)
    return story


def _methods_section(data: report_year.ReportYear, styles, index, districts_source: str | None) -> list:
    censoring = report_year.censoring_summary(data)
    flags = (
        ", ".join(f"{int(r.qc_flag)}: {int(r.readings)}" for r in data.qc_flags.itertuples(index=False))
        or "–"
    )
    classes = "; ".join(
        f"{c.code}: "
        + ", ".join(k.describe_failure().replace(">", "≤").replace("<", "≥") for k in c.criteria)
        for c in CPCB_BEST_USE_CLASSES[:3]
    )
    paragraphs = [
        "<b>Index.</b> WQI = 0.31·I<sub>DO</sub> + 0.28·I<sub>FC</sub> + 0.22·I<sub>pH</sub> + "
        "0.19·I<sub>BOD</sub>, the CPCB adaptation of the NSF index used in MPCB's Water Quality Status of "
        "Maharashtra (2023-24 edition, 'NSFWQI'). Sub-index curves (piecewise): DO % saturation (DO / 6.5 × "
        "100, MPCB's fixed method), fecal coliform (log10), pH, BOD; upper-inclusive segments; the WQI is "
        "clipped to 0–100, sub-indices are not. Source: purehealth_pipelines.indices.wqi; the MPCB worked "
        "example (station 1153, April: 83.16) is reproduced within 0.01 by the test suite.",
        "<b>Classes.</b> A 63–100 Good to Excellent, B 50–63 Medium to Good, C 38–50 Bad, D/E below 38 "
        "Bad to Very Bad. A station's annual class is that of its mean sample WQI; the sample shares count "
        "each "
        "sample's own class.",
        f"<b>Designated best use.</b> CPCB Water Quality Criteria, Table 1 ({classes}). Exceedances are "
        "counted against the station's designated class from the station registry, or class C where none is "
        "designated.",
        "<b>Trend.</b> Seasonal Mann-Kendall test (Hirsch &amp; Slack 1984) with the seasonal Sen's slope, "
        "on the monthly WQI of every financial year available up to this one (months as seasons, April "
        "first), "
        "via pymannkendall; two-sided, α = 0.05; at least 3 financial years with data.",
        "<b>Data and QC.</b> Inputs are the lab readings of each sampling event in core.readings: good "
        "(QARTOD flag 1), or censored with a bound (e.g. coliform '&gt;1600' enters as 1600). Bad (4) and "
        "missing (9) readings are refused. QC flags of this year's lab readings of the WQI parameters: "
        f"{flags}. "
        f"Of {censoring['samples']} samples, {censoring['with_censored_inputs']} used censored inputs, "
        f"{censoring['with_inputs_refused_by_qc']} had inputs refused by QC, and "
        f"{censoring['without_wqi']} had no WQI (an input missing; named in "
        "mart.sample_wqi.missing_parameters).",
        f"<b>Map.</b> {districts_source or 'No district boundaries were available.'} Stations without "
        "published coordinates are drawn inside their district.",
    ]
    story: list = [_Marker("methods", index), Paragraph("Methods", styles["h1"])]
    for text in paragraphs:
        story += [Paragraph(text, styles["body"]), Spacer(0, 0.2 * cm)]
    return story


def _footer(label: str):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(
            1.5 * cm, 1.0 * cm, f"Water Quality Status of Maharashtra {label} — PureHealth Pipelines"
        )
        canvas.drawRightString(A4[0] - 1.5 * cm, 1.0 * cm, f"page {doc.page}")
        canvas.restoreState()

    return draw


def write_pdf(
    data: report_year.ReportYear, path: Path, progress: Progress | None = None
) -> tuple[int, dict, bytes]:
    """The PDF: summary, map, basins, exceedances, one page per station, methods. Returns (pages, section
    index, map PNG)."""
    styles = _styles()
    index: dict[str, int] = {}
    map_story, map_png = _map_section(data, styles, index)
    districts = load_districts()
    story = [
        *_summary_section(data, styles, index),
        *map_story,
        *_basin_section(data, styles, index),
        *_exceedance_section(data, styles, index),
        *_station_pages(data, styles, index, progress),
        *_methods_section(data, styles, index, districts.source if districts else None),
    ]
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.6 * cm,
        title=f"Water Quality Status of Maharashtra {data.label}",
        author="PureHealth Pipelines",
    )
    footer = _footer(data.label)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return doc.page, index, map_png


def _sheet(workbook: Workbook, title: str, frame: pd.DataFrame) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append([str(c) for c in frame.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for record in frame.itertuples(index=False):
        sheet.append([_cell(v) for v in record])
    for i, column in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(str(column)) + 2))
    sheet.freeze_panes = "B2"


def _cell(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_convert(TIMEZONE).tz_localize(None).to_pydatetime() if value.tzinfo else value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def write_workbook(data: report_year.ReportYear, path: Path) -> None:
    """The workbook: the same numbers as the marts, one sheet per table (times in IST)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    summary = report_year.summary(data)
    _sheet(workbook, "Summary", pd.DataFrame({"figure": list(summary), "value": list(summary.values())}))
    _sheet(workbook, "Class distribution", report_year.class_distribution(data))
    annual_columns = [c for c in ANNUAL_COLUMNS if c in data.annual.columns]
    extra = ["name", "river", "district", "basin"]
    _sheet(workbook, "Stations", data.annual[annual_columns + extra])
    monthly = data.monthly.drop(columns=["computed_at"], errors="ignore")
    _sheet(workbook, "Monthly WQI", monthly)
    _sheet(workbook, "Basins", report_year.basin_table(data))
    _sheet(workbook, "Exceedances", report_year.exceedance_table(data))
    _sheet(workbook, "Changes", report_year.changed_stations(data))
    methods = [
        "WQI = 0.31 I_DO + 0.28 I_FC + 0.22 I_pH + 0.19 I_BOD (CPCB/MPCB NSF-based; DO %sat = DO/6.5×100).",
        "Bands: A 63–100, B 50–63, C 38–50, D/E < 38. Annual class = class of the mean sample WQI.",
        "Exceedances: CPCB Water Quality Criteria Table 1, station's designated class (default C).",
        "Trend: seasonal Mann-Kendall + seasonal Sen's slope (pymannkendall), alpha 0.05, ≥ 3 fin. years.",
        "Inputs: good (QARTOD 1) or censored-with-bound lab readings of core.readings; see mart.sample_wqi.",
    ]
    _sheet(workbook, "Methods", pd.DataFrame({"method": methods}))
    workbook.save(path)


def render_report(
    data: report_year.ReportYear, out_dir: Path, progress: Progress | None = None
) -> RenderedReport:
    """Write the PDF, the workbook and a preview PNG for one year into ``out_dir``; atomic per file."""
    began = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"water_quality_status_{data.label}"
    pdf_path, workbook_path, preview_path = (
        out_dir / f"{stem}{ext}" for ext in (".pdf", ".xlsx", "_map.png")
    )
    tmp_pdf, tmp_xlsx = pdf_path.with_suffix(".pdf.part"), workbook_path.with_suffix(".xlsx.part")
    pages, index, map_png = write_pdf(data, tmp_pdf, progress)
    write_workbook(data, tmp_xlsx)
    os.replace(tmp_pdf, pdf_path)  # a reader never sees a half-written report
    os.replace(tmp_xlsx, workbook_path)
    preview_path.write_bytes(map_png)
    return RenderedReport(
        pdf_path, workbook_path, preview_path, pages, len(data.annual), time.perf_counter() - began, index
    )


__all__ = ["RenderedReport", "render_report", "write_pdf", "write_workbook"]
