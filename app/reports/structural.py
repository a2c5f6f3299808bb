"""The structural chapter of the report and the results page: MICMAC and MACTOR on the
panel's pooled matrices.

What the templates (`reports/_structural.html`) read: one row per variable with its direct
and indirect standing, the variables that move between the two readings, the pooled matrix as
printed cells and the influence/dependence map; the actors' balance of power, their
convergences and divergences, the objectives with the power mobilised on them, and the
convergence graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from analysis.structural.micmac import MicmacView
from app.reports.structural_charts import (
    ActorNode,
    MapPoint,
    convergence_graph_svg,
    micmac_map_svg,
)
from app.services.structural import CibPanel, MactorPanel, MicmacPanel, StructuralVariable


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


@dataclass(frozen=True)
class ActorLine:
    """One actor's row of the balance of power."""

    key: str
    title: str
    influence: float  #: Mi, direct and indirect
    dependence: float  #: Di
    power: float  #: Ri*, mean 1


@dataclass(frozen=True)
class PairLine:
    """Two actors' convergence or divergence over the objectives."""

    first: str
    second: str
    objectives: int  #: on how many objectives they stand on the same (opposite) side
    weighted: float  #: 3CAA (3DAA): by the size of their positions and their power


@dataclass(frozen=True)
class ObjectiveLine:
    """One objective: the pooled positions on it and the power mobilised for and against."""

    key: str
    title: str
    positions: list[str]  #: per actor, as printed ("+3", "–" where withheld)
    support: float  #: sum of the positive 3MAO entries
    opposition: float  #: sum of the negative 3MAO entries


def _label(
    variables: tuple[StructuralVariable, ...], key: str, language: str, fallback: str
) -> str:
    """A title in the language (the default language where it has none)."""
    for variable in variables:
        if variable.key == key:
            return variable.title.get(language) or variable.title.get(fallback) or key
    return key


def actor_lines(panel: MactorPanel, language: str, fallback: str) -> list[ActorLine]:
    """The actors by balance of power, strongest first."""
    result = panel.result
    lines = [
        ActorLine(
            key,
            _label(panel.actors, key, language, fallback),
            float(result.influence[i]),
            float(result.dependence[i]),
            float(result.power[i]),
        )
        for i, key in enumerate(result.actors)
    ]
    return sorted(lines, key=lambda line: (-line.power, line.key))


def pair_lines(panel: MactorPanel, *, divergent: bool = False) -> list[PairLine]:
    """Every pair of actors that converges (or diverges) on some objective, strongest first."""
    result = panel.result
    counts, weights = (result.daa1, result.daa3) if divergent else (result.caa1, result.caa3)
    pairs = [
        PairLine(result.actors[i], result.actors[j], int(counts[i, j]), float(weights[i, j]))
        for i in range(len(result.actors))
        for j in range(i + 1, len(result.actors))
        if counts[i, j] > 0
    ]
    return sorted(pairs, key=lambda pair: (-pair.weighted, pair.first, pair.second))


def objective_lines(panel: MactorPanel, language: str, fallback: str) -> list[ObjectiveLine]:
    """The objectives with each actor's pooled position and the power mobilised on them."""
    result = panel.result
    lines = []
    for j, key in enumerate(result.objectives):
        printed = []
        for row in panel.mao.cells:
            cell = row[j]
            if cell is None or cell.withheld or isinstance(cell.value, str):
                printed.append("–")
            else:
                printed.append(f"{cell.value:+g}" if cell.value else "0")
        lines.append(
            ObjectiveLine(
                key,
                _label(panel.objectives, key, language, fallback),
                printed,
                float(result.agreement[j]),
                float(result.disagreement[j]),
            )
        )
    return lines


def mactor_chart(panel: MactorPanel, *, raster: bool = False) -> str:
    """The convergence graph of the actors (3CAA), marker area by balance of power."""
    result = panel.result
    actors = [ActorNode(key, float(result.power[i])) for i, key in enumerate(result.actors)]
    links = {
        (result.actors[i], result.actors[j]): float(result.caa3[i, j])
        for i in range(len(result.actors))
        for j in range(i + 1, len(result.actors))
    }
    return convergence_graph_svg(
        actors, links, title=_("MACTOR: convergences between the actors"), raster=raster
    )


@dataclass(frozen=True)
class CibLine:
    """A consistent scenario in words: each descriptor's state, its score and its support."""

    rank: int
    states: list[tuple[str, str]]  #: (descriptor title, variant title)
    total_impact_score: float
    consistent_in: int


def cib_lines(panel: CibPanel, language: str, fallback: str) -> list[CibLine]:
    """The consistent scenarios, as the engine orders them, with their states in words."""
    titles = {d.key: d for d in panel.descriptors}
    lines = []
    for rank, scenario in enumerate(panel.scenarios, start=1):
        states = []
        for descriptor, variant in scenario.states:
            named = next(v for v in panel.variants[descriptor] if v.key == variant)
            states.append(
                (
                    _label((titles[descriptor],), descriptor, language, fallback),
                    _label((named,), variant, language, fallback),
                )
            )
        lines.append(CibLine(rank, states, scenario.total_impact_score, scenario.consistent_in))
    return lines


@dataclass(frozen=True)
class NamedLine:
    """A named scenario in words, with the CIB scenarios that support it."""

    key: str
    title: str
    states: list[tuple[str, str]]  #: (descriptor title, variant title)
    supported_by: tuple[int, ...]


def named_lines(panel: CibPanel, language: str, fallback: str) -> list[NamedLine]:
    """The named scenarios that declare descriptor states, with their supporting scenarios."""
    titles = {d.key: d for d in panel.descriptors}
    lines = []
    for named in panel.named:
        states = []
        for descriptor, variant in named.states:
            if descriptor not in panel.variants:
                continue
            named_variant = next((v for v in panel.variants[descriptor] if v.key == variant), None)
            states.append(
                (
                    _label((titles[descriptor],), descriptor, language, fallback),
                    _label((named_variant,), variant, language, fallback)
                    if named_variant
                    else variant,
                )
            )
        title = named.title.get(language) or named.title.get(fallback) or named.key
        lines.append(NamedLine(named.key, title, states, named.supported_by))
    return lines
