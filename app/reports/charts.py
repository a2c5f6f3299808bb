"""Charts for reports and result views: real pictures (SVG), readable on screen and in print.

The many small per-item charts (distributions by round, medians with interquartile ranges)
are written directly as SVG: fast, exact and crisp at any size. The overview charts
(probability-impact matrix, convergence, scenarios, trend fan, round flow) are drawn with
matplotlib (Agg backend, no pyplot, settings per figure: nothing global changes).

Every function takes the labels it prints, so the caller translates them; every chart has a
<title> for screen readers. Text stays text in the SVG (selectable, shaped by the renderer).
"""

from __future__ import annotations

import base64
import functools
import io
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import matplotlib
import matplotlib.text
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from app.i18n import localise_digits

matplotlib.use("Agg")

INK = "#1b2430"
SOFT_INK = "#4a5565"
MUTED = "#5f6b7a"
LINE = "#d6dce4"
BRAND = "#1f4e79"
BRAND_SOFT = "#e7eff7"
BAR = "#8eb1d3"
BAR_OLD = "#c9d6e3"
ACCENT = "#b35c00"
OK = "#1e6b3a"
BAD = "#a4262c"
FONT = "Noto Sans, DejaVu Sans, Arial, sans-serif"

#: matplotlib settings applied to every figure (inside rc_context, so nothing global changes)
RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "delphi-report",
    "font.family": ["Noto Sans", "DejaVu Sans", "sans-serif"],
    "font.size": 8.5,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": SOFT_INK,
    "ytick.color": SOFT_INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "figure.dpi": 100,
    "path.simplify": True,
}


@functools.cache
def _rc() -> dict[Any, Any]:
    """RC with font.family narrowed to the families this machine has: matplotlib looks a
    missing family up again (and warns) for every piece of text it lays out."""
    from matplotlib import font_manager

    def installed(family: str) -> bool:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            return False
        return True

    families = [f for f in RC["font.family"] if f == "sans-serif" or installed(f)]
    return {**RC, "font.family": families}


#: resolution of raster charts (the PDF uses them: WeasyPrint draws large SVGs slowly);
#: 200 dpi prints as sharp as the text around them at the sizes the report uses
RASTER_DPI = 200


def data_uri(chart: str) -> str:
    """A chart as a data: URI for <img src> (the pages' CSP allows data: images only): SVG
    text is encoded; a chart made as a raster image is a data: URI already."""
    if chart.startswith("data:"):
        return chart
    chart = _SVG_TEXT.sub(_localised_text, chart)
    return "data:image/svg+xml;base64," + base64.b64encode(chart.encode("utf-8")).decode("ascii")


#: an SVG text element, and a number in it that is not part of a code such as E06
_SVG_TEXT = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")
_STANDALONE_NUMBER = re.compile(r"(?<![A-Za-z_0-9])[0-9]+(?:[.,][0-9]+)*")


def _localised_text(match: re.Match[str]) -> str:
    """A chart label with its numbers in the report language's digits (item keys unchanged)."""
    words = _STANDALONE_NUMBER.sub(lambda number: localise_digits(number[0]), match[2])
    return match[1] + words + match[3]


def _localise_texts(figure: Figure) -> None:
    """The figure's own labels with their numbers in the report language's digits (the PDF's
    raster charts carry them as pixels, where data_uri cannot reach); axis ticks stay as
    matplotlib writes them."""
    if localise_digits("0") == "0":
        return
    for text in figure.findobj(matplotlib.text.Text):
        content = text.get_text()
        if content and "$" not in content:
            text.set_text(_STANDALONE_NUMBER.sub(lambda n: localise_digits(n[0]), content))


def _figure_svg(figure: Figure, title: str, raster: bool = False) -> str:
    """A matplotlib figure as SVG text, with a <title> for screen readers and no XML prolog;
    with raster, a PNG data: URI instead."""
    _localise_texts(figure)
    if raster:
        png = _cropped_png(figure) or _saved_png(figure)
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    buffer = io.StringIO()
    with matplotlib.rc_context(_rc()):
        figure.savefig(
            buffer, format="svg", bbox_inches="tight", pad_inches=0.05, metadata={"Date": None}
        )
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    head_end = svg.index(">") + 1
    return svg[:head_end] + f"<title>{escape(title)}</title>" + svg[head_end:]


#: white space kept around a chart's ink, in inches (as savefig's pad_inches)
PAD_INCHES = 0.05


def _cropped_png(figure: Figure) -> bytes | None:
    """The figure drawn once and cut to its ink plus the pad, as an opaque PNG; None when
    some of the ink lies outside the figure (a legend beside the axes), which only savefig's
    tight box can take in.

    savefig(bbox_inches="tight") draws the figure twice (once to measure, once to paint) and
    compresses a PNG that WeasyPrint then decodes; this draws once and hands over the pixels.
    """
    from PIL import Image

    with matplotlib.rc_context(_rc()):
        canvas = FigureCanvasAgg(figure)
        figure.set_dpi(RASTER_DPI)
        figure.set_facecolor("white")
        canvas.draw()
        ink = figure.get_tightbbox(canvas.get_renderer())
    width, height = canvas.get_width_height()
    if ink is None or ink.x0 < 0 or ink.y0 < 0 or ink.x1 * RASTER_DPI > width:
        return None
    if ink.y1 * RASTER_DPI > height:
        return None
    box = ink.padded(PAD_INCHES)
    left, right = math.floor(box.x0 * RASTER_DPI), math.ceil(box.x1 * RASTER_DPI)
    bottom, top = math.floor(box.y0 * RASTER_DPI), math.ceil(box.y1 * RASTER_DPI)
    pixels = np.asarray(canvas.buffer_rgba())
    # rows count from the top in the buffer, from the bottom in figure coordinates; the pad
    # may reach past the figure's edge, where the picture is white
    inside = pixels[height - min(top, height) : height - max(bottom, 0), max(left, 0) : right]
    picture = Image.new("RGB", (right - left, top - bottom), "white")
    picture.paste(
        Image.fromarray(np.ascontiguousarray(inside[..., :3])),
        (max(left, 0) - left, top - min(top, height)),
    )
    out = io.BytesIO()
    # WeasyPrint decodes and compresses the pixels again: little compression here
    picture.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _saved_png(figure: Figure) -> bytes:
    """The figure as an opaque PNG through savefig's tight box."""
    png = io.BytesIO()
    with matplotlib.rc_context(_rc()):
        figure.savefig(
            png,
            format="png",
            dpi=RASTER_DPI,
            bbox_inches="tight",
            pad_inches=PAD_INCHES,
            facecolor="white",
            pil_kwargs={"compress_level": 1},
        )
    return _opaque_png(png.getvalue())


def _opaque_png(png: bytes) -> bytes:
    """The PNG without its alpha channel (on white, as it was drawn): WeasyPrint splits an
    alpha channel into a separate mask image and compresses both, which doubles its work."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        opaque = image.convert("RGB")
    out = io.BytesIO()
    opaque.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _fmt(value: float | None, digits: int = 1) -> str:
    """A short number for chart labels, in the digits of the report's language."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}"
    return localise_digits(text.rstrip("0").rstrip(".") if "." in text else text)


# ---------------------------------------------------------------------------------------------
# Hand-written SVG: small per-item charts


@dataclass(frozen=True)
class RoundDistribution:
    """One round's answers to one question part, as the snapshot holds them."""

    label: str  #: e.g. "R2"
    histogram: Sequence[Mapping[str, Any]]
    median: float | None
    q1: float | None
    q3: float | None
    final: bool


def _nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values covering [low, high] (whole steps on a whole-number axis)."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, float(math.ceil(step)))
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def distribution_svg(
    rounds: Sequence[RoundDistribution],
    *,
    title: str,
    points: bool = False,
    width: int = 320,
) -> str:
    """Histograms of one question part, one row per round (latest last), on a shared axis,
    with the interquartile range shaded and the median marked."""
    rows = [r for r in rounds if r.histogram]
    if not rows:
        return ""
    low = min(float(b["low"]) for r in rows for b in r.histogram)
    high = max(float(b["high"]) for r in rows for b in r.histogram)
    if points:
        values = sorted({float(b["low"]) for r in rows for b in r.histogram})
        step = min((b - a for a, b in itertools.pairwise(values)), default=1.0) or 1.0
        low, high = low - step / 2, high + step / 2
    span = (high - low) or 1.0
    left, right, row_height, gap, axis = 30, 8, 38, 6, 20
    plot = width - left - right
    height = len(rows) * (row_height + gap) + axis

    def x(value: float) -> float:
        return left + (value - low) / span * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family={quoteattr(FONT)}>',
        f"<title>{escape(title)}</title>",
    ]
    top = max((int(b["count"]) for r in rows for b in r.histogram), default=1) or 1
    for index, row in enumerate(rows):
        y0 = index * (row_height + gap)
        base = y0 + row_height
        parts.append(
            f'<text x="{left - 6}" y="{base - row_height / 2 + 3:.1f}" font-size="9" '
            f'text-anchor="end" fill="{SOFT_INK}">{escape(row.label)}</text>'
        )
        if row.q1 is not None and row.q3 is not None:
            x1, x3 = x(row.q1), x(row.q3)
            parts.append(
                f'<rect x="{x1:.1f}" y="{y0}" width="{max(x3 - x1, 1.5):.1f}" '
                f'height="{row_height}" fill="{BRAND_SOFT}"/>'
            )
        fill = BAR if row.final else BAR_OLD
        # a row's bars as one path: the same picture, and one element instead of one per bar
        # (renderers pay per element: WeasyPrint styles and strokes each one)
        bars = []
        for b in row.histogram:
            count = int(b["count"])
            if not count:
                continue
            h = count / top * (row_height - 4)
            if points:
                centre = x(float(b["low"]))
                bar = max(plot / ((span / step) if span else 1) * 0.7, 2.0)
                bx = centre - bar / 2
            else:
                bx = x(float(b["low"])) + 0.5
                bar = max(x(float(b["high"])) - x(float(b["low"])) - 1.0, 1.0)
            bars.append(f"M{bx:.1f} {base - h:.1f}h{bar:.1f}v{h:.1f}h{-bar:.1f}z")
        if bars:
            parts.append(f'<path d="{"".join(bars)}" fill="{fill}"/>')
        if row.median is not None:
            xm = x(row.median)
            parts.append(
                f'<line x1="{xm:.1f}" x2="{xm:.1f}" y1="{y0}" y2="{base}" stroke="{BRAND}" stroke-width="2"/>'
            )
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{LINE}"/>'
        )
    axis_y = len(rows) * (row_height + gap) - gap
    ticks = (
        sorted({float(b["low"]) for r in rows for b in r.histogram})
        if points
        else _nice_ticks(
            low,
            high,
            whole=all(
                float(b[e]).is_integer() for r in rows for b in r.histogram for e in ("low", "high")
            ),
        )
    )
    if points and len(ticks) > 11:
        ticks = ticks[:: math.ceil(len(ticks) / 11)]
    for tick in ticks:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 13}" font-size="9" text-anchor="middle" '
            f'fill="{SOFT_INK}">{escape(_fmt(tick, 2))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class RangeRow:
    """One part's median and interquartile range in the rounds that asked it."""

    label: str
    rounds: Sequence[
        tuple[str, float | None, float | None, float | None]
    ]  #: (round, q1, median, q3)


def ranges_svg(
    rows: Sequence[RangeRow],
    *,
    title: str,
    low: float | None = None,
    high: float | None = None,
    width: int = 420,
    label_width: int = 150,
) -> str:
    """Medians (dots) and interquartile ranges (bars) of several parts, one line per part, each
    round slightly offset (latest darkest)."""
    values = [v for row in rows for _r, *numbers in row.rounds for v in numbers if v is not None]
    if not values:
        return ""
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    if high <= low:
        high = low + 1.0
    right, row_height, axis = 10, 20, 18
    plot = width - label_width - right
    height = len(rows) * row_height + axis
    span = high - low

    def x(value: float) -> float:
        return label_width + (value - low) / span * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family={quoteattr(FONT)}>',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _nice_ticks(low, high):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="0" y2="{len(rows) * row_height}" '
            f'stroke="{LINE}" stroke-width="0.6"/>'
        )
        parts.append(
            f'<text x="{x(tick):.1f}" y="{len(rows) * row_height + 12}" font-size="9" '
            f'text-anchor="middle" fill="{SOFT_INK}">{escape(_fmt(tick, 2))}</text>'
        )
    for index, row in enumerate(rows):
        centre = index * row_height + row_height / 2
        parts.append(
            f'<text x="{label_width - 6}" y="{centre + 3:.1f}" font-size="9" text-anchor="end" '
            f'fill="{INK}">{escape(row.label)}</text>'
        )
        count = len(row.rounds)
        for position, (_round, q1, median, q3) in enumerate(row.rounds):
            offset = (position - (count - 1) / 2) * 5
            y = centre + offset
            final = position == count - 1
            colour = BRAND if final else BAR
            if q1 is not None and q3 is not None:
                parts.append(
                    f'<line x1="{x(q1):.1f}" x2="{x(q3):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{colour}" stroke-width="{3 if final else 2}" stroke-linecap="round"/>'
                )
            if median is not None:
                parts.append(
                    f'<circle cx="{x(median):.1f}" cy="{y:.1f}" r="{3.2 if final else 2.4}" '
                    f'fill="{"#fff" if not final else colour}" stroke="{colour}" stroke-width="1.2"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# matplotlib: overview charts


@dataclass(frozen=True)
class MatrixPoint:
    """An event on the probability-impact matrix."""

    key: str
    probability: float  #: pooled, in percent
    impact: float  #: median impact
    agreement: float | None  #: share of the panel agreeing on the impact (0-1)
    consensus: bool  #: consensus on both probability and impact


def _place_labels(
    anchors: Sequence[tuple[float, float, float, str]],
) -> list[tuple[float, float, str, str]]:
    """Label positions next to markers that avoid other labels and markers, greedily.

    anchors: (x, y, marker radius, text) in points on the axes; returns (dx, dy, ha, va) offsets
    in points. Text boxes are estimated from the text length (7 pt type).
    """
    obstacles = [(x - r, y - r, x + r, y + r) for x, y, r, _t in anchors]
    placed: list[tuple[float, float, float, float]] = []
    result: list[tuple[float, float, str, str]] = []
    for x, y, radius, text in anchors:
        width, height = len(text) * 4.4 + 1, 8.0
        gap = radius + 1.5
        candidates = [
            (gap, -height / 2, "left", "bottom"),
            (-gap, -height / 2, "right", "bottom"),
            (0, gap, "center", "bottom"),
            (0, -gap - height, "center", "bottom"),
            (gap * 0.75, gap * 0.55, "left", "bottom"),
            (-gap * 0.75, gap * 0.55, "right", "bottom"),
            (gap * 0.75, -gap * 0.55 - height, "left", "bottom"),
            (-gap * 0.75, -gap * 0.55 - height, "right", "bottom"),
        ]
        best: tuple[float, float, str, str] = candidates[0]
        best_cost = math.inf
        for dx, dy, ha, va in candidates:
            left = x + dx - (width if ha == "right" else width / 2 if ha == "center" else 0)
            box = (left, y + dy, left + width, y + dy + height)
            cost = sum(
                max(0.0, min(box[2], o[2]) - max(box[0], o[0]))
                * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
                for o in (*placed, *obstacles)
            )
            if cost < best_cost:
                best, best_cost = (dx, dy, ha, va), cost
                if cost == 0:
                    break
        dx, dy, ha, _va = best
        left = x + dx - (width if ha == "right" else width / 2 if ha == "center" else 0)
        placed.append((left, y + dy, left + width, y + dy + height))
        result.append(best)
    return result


def probability_impact_svg(
    points: Sequence[MatrixPoint],
    *,
    title: str,
    x_label: str,
    y_label: str,
    impact_range: tuple[float, float],
    legend_consensus: str,
    legend_no_consensus: str,
    raster: bool = False,
) -> str:
    """Pooled probability against median impact, marker area by agreement, colour by consensus."""
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(6.6, 4.3))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        low, high = impact_range
        pad = (high - low) * 0.08
        ax.set_xlim(0, 100)
        ax.set_ylim(low - pad, high + pad)
        ax.axvline(50, color=LINE, lw=1, zorder=0)
        ax.axhline((low + high) / 2, color=LINE, lw=1, zorder=0)
        sizes = [18 + 90 * (p.agreement if p.agreement is not None else 0.3) for p in points]
        # one collection for every marker (drawn in the same order as one per marker)
        ax.scatter(
            [p.probability for p in points],
            [p.impact for p in points],
            s=sizes,
            c=[BRAND if p.consensus else "white" for p in points],
            edgecolors=BRAND,
            linewidths=1.1,
            alpha=0.9,
            zorder=3,
        )
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        figure.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.12)
        to_points = ax.transData
        scale = 72 / figure.dpi
        anchors = []
        for point, size in zip(points, sizes, strict=True):
            px, py = to_points.transform((point.probability, point.impact))
            anchors.append((px * scale, py * scale, math.sqrt(size) / 2, point.key))
        for point, (dx, dy, ha, va) in zip(points, _place_labels(anchors), strict=True):
            ax.annotate(
                point.key,
                (point.probability, point.impact),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=7,
                color=INK,
                ha=ha,
                va=va,
                zorder=4,
            )
        ax.scatter([], [], s=60, color=BRAND, label=legend_consensus)
        ax.scatter([], [], s=60, color="white", edgecolor=BRAND, label=legend_no_consensus)
        ax.legend(
            loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.3, fontsize=8.5
        )
        return _figure_svg(figure, title, raster)


@dataclass(frozen=True)
class ConvergencePanel:
    """IQRs by round for many items on one question."""

    title: str
    unit: str
    series: Mapping[str, Sequence[tuple[int, float]]]  #: item key -> (round, IQR)


def convergence_svg(
    panels: Sequence[ConvergencePanel],
    *,
    title: str,
    round_label: str,
    median_label: str,
    raster: bool = False,
) -> str:
    """Interquartile range per round, one thin line per item and the median across items bold."""
    panels = [p for p in panels if p.series]
    if not panels:
        return ""
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(3.3 * len(panels), 2.7))
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=True):
            rounds = sorted({r for s in panel.series.values() for r, _v in s})
            for values in panel.series.values():
                if len(values) > 1:
                    ax.plot(
                        [r for r, _v in values],
                        [v for _r, v in values],
                        color=BAR,
                        lw=0.8,
                        alpha=0.7,
                    )
                else:
                    ax.plot([r for r, _v in values], [v for _r, v in values], "o", color=BAR, ms=2)
            medians = []
            for r in rounds:
                found = sorted(v for s in panel.series.values() for rr, v in s if rr == r)
                if found:
                    middle = len(found) // 2
                    medians.append(
                        (
                            r,
                            found[middle]
                            if len(found) % 2
                            else (found[middle - 1] + found[middle]) / 2,
                        )
                    )
            ax.plot(
                [r for r, _v in medians],
                [v for _r, v in medians],
                "-o",
                color=BRAND,
                lw=2.2,
                ms=4,
                label=median_label,
            )
            ax.set_xticks(rounds, [f"{round_label} {r}" for r in rounds])
            ax.set_title(panel.title, loc="left")
            ax.set_ylabel(panel.unit)
            ax.set_ylim(bottom=0)
            if len(rounds) == 1:
                ax.set_xlim(rounds[0] - 0.5, rounds[0] + 0.5)
        axes[0].legend(loc="upper right")
        figure.tight_layout()
        return _figure_svg(figure, title, raster)


@dataclass(frozen=True)
class ScenarioBar:
    """A named scenario's estimates: (method label, probability, lower, upper), in percent."""

    label: str
    estimates: Sequence[tuple[str, float, float, float]]


def scenarios_svg(
    bars: Sequence[ScenarioBar],
    *,
    title: str,
    x_label: str,
    raster: bool = False,
) -> str:
    """Each named scenario's probability under each method, with bounds or intervals."""
    if not bars:
        return ""
    methods = sorted(
        {m for b in bars for m, *_rest in b.estimates},
        key=[m for b in bars for m, *_r in b.estimates].index,
    )
    colours = [BRAND, ACCENT, OK, MUTED]
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(6.6, 0.32 * len(bars) * max(1, len(methods)) + 1.0))
        ax = figure.subplots()
        step = 0.8 / max(len(methods), 1)
        for index, bar in enumerate(bars):
            for m_index, (method, value, lower, upper) in enumerate(bar.estimates):
                y = index + (m_index - (len(methods) - 1) / 2) * step
                colour = colours[methods.index(method) % len(colours)]
                ax.plot(
                    [lower, upper], [y, y], color=colour, lw=2.2, solid_capstyle="butt", alpha=0.55
                )
                ax.plot(
                    [value],
                    [y],
                    "o",
                    color=colour,
                    ms=5,
                    label=method if index == 0 else None,
                )
        ax.set_yticks(range(len(bars)), [b.label for b in bars])
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_xlabel(x_label)
        ax.grid(axis="x", color=LINE, lw=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(methods), borderaxespad=0.3)
        figure.tight_layout()
        return _figure_svg(figure, title, raster)


@dataclass(frozen=True)
class FanSeries:
    """A trend's history and forecast."""

    history: Sequence[tuple[int, float]]
    years: Sequence[int]
    baseline: Sequence[float]
    expected: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    panel_estimate: float | None
    end_year: int


def fan_svg(
    series: FanSeries,
    *,
    title: str,
    y_label: str,
    labels: Mapping[str, str],
    raster: bool = False,
) -> str:
    """The trend impact fan: history, surprise-free baseline, expected forecast, 10-90 % band."""
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(6.6, 3.0))
        ax = figure.subplots()
        ax.fill_between(
            series.years, series.low, series.high, color=BAR, alpha=0.35, lw=0, label=labels["band"]
        )
        ax.plot(series.years, series.baseline, "--", color=MUTED, lw=1.2, label=labels["baseline"])
        ax.plot(series.years, series.expected, color=BRAND, lw=2.2, label=labels["expected"])
        if series.history:
            ax.plot(
                [y for y, _v in series.history],
                [v for _y, v in series.history],
                "-o",
                color=INK,
                lw=1.2,
                ms=3.5,
                label=labels["history"],
            )
        if series.panel_estimate is not None:
            ax.plot(
                [series.end_year],
                [series.panel_estimate],
                "D",
                color=ACCENT,
                ms=6,
                label=labels["panel"],
            )
        ax.set_ylabel(y_label)
        ax.grid(axis="y", color=LINE, lw=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        figure.tight_layout()
        return _figure_svg(figure, title, raster)


@dataclass(frozen=True)
class FlowBox:
    """One round in the flow diagram."""

    heading: str
    lines: Sequence[str]
    side: str  #: what happened between this round and the next (attrition), or ""


def round_flow_svg(
    boxes: Sequence[FlowBox],
    *,
    title: str,
    raster: bool = False,
) -> str:
    """A CONSORT-style flow: one box per round, arrows between them, attrition to the side."""
    if not boxes:
        return ""
    count = len(boxes)
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(6.6, 1.25 * count + 0.3))
        ax = figure.subplots()
        ax.set_xlim(0, 10)
        ax.set_ylim(0, count * 1.25 + 0.2)
        ax.axis("off")
        for index, box in enumerate(boxes):
            top = count * 1.25 - index * 1.25
            ax.add_patch(
                FancyBboxPatch(
                    (0.6, top - 0.95),
                    5.0,
                    0.85,
                    boxstyle="round,pad=0.02,rounding_size=0.08",
                    facecolor=BRAND_SOFT,
                    edgecolor=BRAND,
                    lw=1,
                )
            )
            ax.text(
                0.8, top - 0.28, box.heading, fontsize=9, fontweight="bold", color=INK, va="center"
            )
            ax.text(
                0.8, top - 0.66, "   ·   ".join(box.lines), fontsize=8, color=SOFT_INK, va="center"
            )
            if index < count - 1:
                ax.add_patch(
                    FancyArrowPatch(
                        (3.1, top - 0.97),
                        (3.1, top - 1.23),
                        arrowstyle="-|>",
                        mutation_scale=10,
                        color=MUTED,
                    )
                )
                if box.side:
                    ax.add_patch(
                        FancyArrowPatch(
                            (3.1, top - 1.1),
                            (6.0, top - 1.1),
                            arrowstyle="-|>",
                            mutation_scale=8,
                            color=MUTED,
                            lw=0.8,
                        )
                    )
                    ax.text(6.1, top - 1.1, box.side, fontsize=8, color=SOFT_INK, va="center")
        return _figure_svg(figure, title, raster)
