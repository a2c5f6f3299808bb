"""Scoring the panel's event forecasts once outcomes are recorded (Brier and log scores).

A probability part means "by the end of year Y" (Y is the part's horizon year, or the study's
horizon for a single probability). An outcome resolves it when the event occurred (1 if on or
before Y, else 0) or when it had not occurred as of a date after the end of Y (0); otherwise
the part is still open. Forecasts are the last closed round's answers; the panel's forecast
is the pooled one (log-odds pooling) under each weighting of app.services.calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from analysis.scoring import DEFAULT_EPS, ForecastScore, score_forecasts
from app.messages import N_, Message
from app.models import Round, Study
from app.services import resolutions
from app.services.analysis_settings import settings_of
from app.services.calibration import WEIGHTINGS, WeightedPooling, weighted_pooling
from app.services.tidy import tidy_answers


@dataclass(frozen=True)
class ResolvedPart:
    """One forecast part with a known outcome."""

    item: str
    question: str
    part: str
    year: int
    outcome: int


@dataclass(frozen=True)
class ForecastScores:
    """Brier and log scores per pseudonym (when k or more) and for the pooled panel."""

    round: int
    resolved: tuple[ResolvedPart, ...]
    #: weighting -> score of the pooled forecasts
    panel: dict[str, ForecastScore]
    experts: tuple[tuple[str, ForecastScore], ...]
    per_expert_shown: bool
    notes: tuple[Message, ...]
    eps: float = DEFAULT_EPS
    #: Cooke's caveat: the performance-weighted panel rests on fewer seeds than advised
    performance_few_seeds: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""

        def score(s: ForecastScore) -> dict[str, Any]:
            return {"n": s.n, "brier": s.brier, "log": s.log}

        return {
            "round": self.round,
            "eps": self.eps,
            "performance_few_seeds": self.performance_few_seeds,
            "resolved": [r.__dict__ for r in self.resolved],
            "panel": {w: score(s) for w, s in self.panel.items()},
            "per_expert_shown": self.per_expert_shown,
            "experts": [{"pseudonym": p, **score(s)} for p, s in self.experts],
            "notes": [str(n) for n in self.notes],
        }


def outcome_by(year: int, occurred: bool, on: date) -> int | None:
    """1 or 0 for "by the end of `year`", or None while still open."""
    if occurred:
        return 1 if on.year <= year else 0
    return 0 if on > date(year, 12, 31) else None


def _year(part: str, horizon: int) -> int | None:
    """The year a probability part is about (None for parts that are not years)."""
    if part == "":
        return horizon
    return int(part) if part.isdigit() else None


def score_round(
    session: Session, study: Study, round_: Round, pooling: WeightedPooling | None = None
) -> ForecastScores:
    """Brier and log scores of a closed round's event forecasts against recorded outcomes."""
    pooling = pooling or weighted_pooling(session, study, round_)
    eps = settings_of(study).log_score_eps
    outcomes = resolutions.current(session, study).outcomes
    events = {i.key for i in study.items if i.kind == "event"}
    resolved: list[ResolvedPart] = []
    panel_p: dict[str, list[float]] = {w: [] for w in WEIGHTINGS}
    panel_o: dict[str, list[float]] = {w: [] for w in WEIGHTINGS}
    for row in pooling.rows:
        recorded = outcomes.get(row.item)
        year = _year(row.part, study.horizon)
        # conditional parts ("E08|given") and non-event items are not forecasts of an outcome
        if row.item not in events or recorded is None or year is None or "|" in row.part:
            continue
        if recorded.occurred is None or recorded.resolved_on is None:
            continue
        outcome = outcome_by(year, recorded.occurred, recorded.resolved_on)
        if outcome is None:
            continue
        resolved.append(ResolvedPart(row.item, row.question, row.part, year, outcome))
        for weighting in WEIGHTINGS:
            pooled = row.pooled.get(weighting)
            value = (pooled or {}).get("logodds")
            if value is not None:
                panel_p[weighting].append(value / 100.0)
                panel_o[weighting].append(float(outcome))
    panel = {w: score_forecasts(panel_p[w], panel_o[w], eps=eps) for w in WEIGHTINGS}
    per_expert: dict[str, tuple[list[float], list[float]]] = {}
    # the experts' own forecasts, read only when some have an outcome to be scored against
    if resolved:
        frame = tidy_answers(session, study, [round_], matrices=False)
        for part in resolved:
            rows = frame[
                (frame["item"] == part.item)
                & (frame["question"] == part.question)
                & (frame["part"] == part.part)
                & frame["value"].notna()
            ]
            for expert, value in zip(rows["expert"], rows["value"].astype(float), strict=True):
                forecasts, observed = per_expert.setdefault(str(expert), ([], []))
                forecasts.append(value / 100.0)
                observed.append(float(part.outcome))
    notes: list[Message] = []
    if not resolved:
        notes.append(N_("No forecast has a recorded outcome yet: nothing to score."))
    shown = len(per_expert) >= study.k
    if per_expert and not shown:
        notes.append(
            N_(
                "Fewer than k = %(k)s experts made scored forecasts: only the panel's scores "
                "are shown.",
                k=study.k,
            )
        )
    experts = tuple((p, score_forecasts(f, o, eps=eps)) for p, (f, o) in sorted(per_expert.items()))
    return ForecastScores(
        round=round_.number,
        resolved=tuple(resolved),
        panel=panel,
        experts=experts if shown else (),
        per_expert_shown=shown,
        notes=tuple(notes),
        eps=eps,
        performance_few_seeds=pooling.calibration.few_seeds,
    )
