"""The structural chapter of the report and the results page: MICMAC on the panel's matrix.

What the templates (`reports/_structural.html`) read: one row per variable with its direct
and indirect standing, the variables that move between the two readings, the pooled matrix as
printed cells, and the influence/dependence map.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from analysis.structural.micmac import MicmacView
from app.reports.structural_charts import MapPoint, micmac_map_svg
from app.services.structural import MicmacPanel


@dataclass(frozen=True)
class VariableLine:
    """One variable's row of the MICMAC table."""

    key: str
    title: str
    influence: float
    dependence: float
    quadrant: str
    influence_rank: int
    dependence_rank: int
    indirect_influence_rank: int
    indirect_dependence_rank: int
    indirect_quadrant: str


def micmac_quadrant_labels() -> dict[str, str]:
    """The four MICMAC quadrants in words."""
    return {
        "influential": _("Influential (drivers)"),
        "relay": _("Relay (influential and dependent)"),
        "dependent": _("Dependent (outcomes)"),
        "autonomous": _("Autonomous (weakly connected)"),
    }


def _title(panel: MicmacPanel, key: str, language: str, fallback: str) -> str:
    """A variable's title in the language (the default language where it has none)."""
    for variable in panel.variables:
        if variable.key == key:
            return variable.title.get(language) or variable.title.get(fallback) or key
    return key


def variable_lines(panel: MicmacPanel, language: str, fallback: str) -> list[VariableLine]:
    """The variables by direct influence, strongest first."""
    result = panel.result
    direct, indirect = result.direct, result.indirect
    lines = [
        VariableLine(
            key=key,
            title=_title(panel, key, language, fallback),
            influence=direct.influence[i],
            dependence=direct.dependence[i],
            quadrant=direct.quadrant[i],
            influence_rank=direct.influence_rank[i],
            dependence_rank=direct.dependence_rank[i],
            indirect_influence_rank=indirect.influence_rank[i],
            indirect_dependence_rank=indirect.dependence_rank[i],
            indirect_quadrant=indirect.quadrant[i],
        )
        for i, key in enumerate(result.variables)
    ]
    return sorted(lines, key=lambda line: (line.influence_rank, line.key))


def matrix_rows(panel: MicmacPanel) -> list[tuple[str, list[str]]]:
    """The pooled matrix as printed: a median (one decimal where it is a half), P, or a
    middle dot where the cell is withheld (fewer than k raters) or on the diagonal."""
    rows = []
    for name, cells in zip(panel.pooled.names, panel.pooled.cells, strict=True):
        printed = []
        for cell in cells:
            if cell is None or cell.withheld:
                printed.append("–")
            elif isinstance(cell.value, str):
                printed.append(cell.value)
            else:
                printed.append(f"{cell.value:g}")
        rows.append((name, printed))
    return rows


def _points(variables: tuple[str, ...], view: MicmacView) -> list[MapPoint]:
    """The map's points of one reading."""
    return [
        MapPoint(key, view.dependence_share[i], view.influence_share[i], view.quadrant[i])
        for i, key in enumerate(variables)
    ]


def micmac_chart(panel: MicmacPanel, *, indirect: bool = False, raster: bool = False) -> str:
    """The influence/dependence map of the direct (or indirect) reading."""
    result = panel.result
    view = result.indirect if indirect else result.direct
    return micmac_map_svg(
        _points(result.variables, view),
        title=_("MICMAC map, indirect influences")
        if indirect
        else _("MICMAC map, direct influences"),
        x_label=_("Dependence (‰ of the total)"),
        y_label=_("Influence (‰ of the total)"),
        quadrant_labels=micmac_quadrant_labels(),
        raster=raster,
    )
