"""Charts of the structural analysis: the MICMAC influence/dependence map.

Drawn like the other overview charts (`app.reports.charts`): matplotlib, SVG for pages and a
raster image for the PDF; the caller passes every label already translated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from app.reports.charts import (
    ACCENT,
    BRAND,
    INK,
    LINE,
    MUTED,
    _figure_svg,
    _fmt,
    _place_labels,
    _rc,
)


@dataclass(frozen=True)
class MapPoint:
    """A variable on the map: its shares of total dependence (x) and influence (y), per mille."""

    key: str
    dependence: float
    influence: float
    quadrant: str


#: marker colour by quadrant: the system's levers stand out, autonomous variables recede
_QUADRANT_COLOURS = {
    "influential": BRAND,
    "relay": ACCENT,
    "dependent": "#5b8db8",
    "autonomous": MUTED,
}


def micmac_map_svg(
    points: Sequence[MapPoint],
    *,
    title: str,
    x_label: str,
    y_label: str,
    quadrant_labels: Mapping[str, str],
    raster: bool = False,
) -> str:
    """Dependence against influence, split at the means into the four quadrants."""
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(6.6, 4.6))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        xs = [p.dependence for p in points]
        ys = [p.influence for p in points]
        top_x = max([*xs, 1.0]) * 1.12
        top_y = max([*ys, 1.0]) * 1.12
        ax.set_xlim(0, top_x)
        ax.set_ylim(0, top_y)
        mean_x = sum(xs) / len(xs) if xs else 0.0
        mean_y = sum(ys) / len(ys) if ys else 0.0
        ax.axvline(mean_x, color=LINE, lw=1.2, zorder=0)
        ax.axhline(mean_y, color=LINE, lw=1.2, zorder=0)
        corners = {
            "influential": (0.01, 0.99, "left", "top"),
            "relay": (0.99, 0.99, "right", "top"),
            "autonomous": (0.01, 0.01, "left", "bottom"),
            "dependent": (0.99, 0.01, "right", "bottom"),
        }
        for quadrant, (x, y, ha, va) in corners.items():
            ax.text(
                x,
                y,
                quadrant_labels.get(quadrant, quadrant),
                transform=ax.transAxes,
                ha=ha,
                va=va,
                fontsize=8,
                color=_QUADRANT_COLOURS[quadrant],
                fontweight="bold",
            )
        ax.scatter(
            xs,
            ys,
            s=42,
            c=[_QUADRANT_COLOURS.get(p.quadrant, MUTED) for p in points],
            edgecolors="white",
            linewidths=0.8,
            zorder=3,
        )
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        # tick numbers in the report language's digits (Persian pages and PDF read ۲۰, not 20)
        in_digits = FuncFormatter(lambda value, _position: _fmt(value, 0))
        ax.xaxis.set_major_formatter(in_digits)
        ax.yaxis.set_major_formatter(in_digits)
        figure.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.12)
        scale = 72 / figure.dpi
        anchors = []
        for point in points:
            px, py = ax.transData.transform((point.dependence, point.influence))
            anchors.append((px * scale, py * scale, math.sqrt(42) / 2, point.key))
        for point, (dx, dy, ha, va) in zip(points, _place_labels(anchors), strict=True):
            ax.annotate(
                point.key,
                (point.dependence, point.influence),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=7.5,
                color=INK,
                ha=ha,
                va=va,
                zorder=4,
            )
        return _figure_svg(figure, title, raster)


@dataclass(frozen=True)
class ActorNode:
    """An actor on the convergence graph; marker area by its balance of power (Ri*)."""

    key: str
    power: float


def convergence_graph_svg(
    actors: Sequence[ActorNode],
    links: Mapping[tuple[str, str], float],
    *,
    title: str,
    raster: bool = False,
) -> str:
    """Actors on a circle, joined by lines as thick as their weighted convergence (3CAA):
    who stands together on the objectives, weighted by their power."""
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(4.6, 4.0))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        ax.set_axis_off()
        ax.set_aspect("equal")
        count = max(len(actors), 1)
        where = {
            actor.key: (
                math.cos(math.pi / 2 - 2 * math.pi * i / count),
                math.sin(math.pi / 2 - 2 * math.pi * i / count),
            )
            for i, actor in enumerate(actors)
        }
        strongest = max([*links.values(), 1e-9])
        for (first, second), weight in sorted(links.items(), key=lambda link: link[1]):
            if weight <= 0 or first not in where or second not in where:
                continue
            share = weight / strongest
            (x1, y1), (x2, y2) = where[first], where[second]
            ax.plot(
                [x1, x2],
                [y1, y2],
                color=BRAND if share >= 0.5 else "#8eb1d3",
                lw=0.6 + 5.4 * share,
                alpha=0.35 + 0.6 * share,
                zorder=1,
                solid_capstyle="round",
            )
        for actor in actors:
            x, y = where[actor.key]
            ax.scatter(
                [x], [y], s=60 + 260 * actor.power, color=ACCENT, edgecolors="white", zorder=3
            )
            # the key sits outside its node, pointing away from the circle's centre: inside
            # the node a long key (A_GULF) ran over its rim and under the lines
            ax.annotate(
                actor.key,
                (x, y),
                xytext=(14 * x, 14 * y),
                textcoords="offset points",
                ha="left" if x > 0.2 else "right" if x < -0.2 else "center",
                va="bottom" if y > 0.2 else "top" if y < -0.2 else "center",
                fontsize=8.5,
                color=INK,
                zorder=4,
            )
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.35, 1.35)
        return _figure_svg(figure, title, raster)
