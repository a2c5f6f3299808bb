"""Events ranked by probability, impact, expected impact or quadrant, from the final estimates.

The figures come from the closed rounds' snapshots, each event's from the latest closed round
(up to the one asked for) that has it, as for the scenario methods: the log-odds pooled
probability by the study's horizon and the median of the study's impact question. The ranking
itself is analysis.ranking's. The impact question is the events' first question on a bipolar
rating scale (e.g. -3..+3, the sign being the direction of the effect); its scale gives the
neutral point and the largest impact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from analysis.ranking import (
    EventFigures,
    Ranking,
    impact_reference,
    rank_events,
)
from app.definitions.model import ItemKind, QuestionKind, ScaleKind
from app.models import NotFoundError, Question, Round, Study
from app.services.analysis_settings import settings_of
from app.services.result_inputs import closed_snapshots, latest_item_data, probability_question


@dataclass(frozen=True)
class EventRanking:
    """A study's events in one order, with the questions and rounds the figures come from."""

    round_number: int
    #: the impact question's key (None: the study asks none, so only probability ranks)
    impact_question: str | None
    ranking: Ranking
    #: event key -> the round whose snapshot gave its figures
    rounds: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (probabilities from 0 to 1, impacts on the impact scale)."""
        body = self.ranking.as_dict()
        for event in body["events"]:
            event["round"] = self.rounds.get(event["key"])
        return {"round": self.round_number, "impact_question": self.impact_question, **body}


def impact_question(study: Study) -> Question | None:
    """The events' impact question: the first rating question on a bipolar scale."""
    for item in study.items:
        if item.kind != ItemKind.EVENT:
            continue
        for question in item.questions:
            scale = question.scale
            if (
                question.kind == QuestionKind.LIKERT
                and scale is not None
                and scale.kind == ScaleKind.LIKERT
                and scale.bipolar
            ):
                return question
    return None


def event_ranking(
    session: Session,
    study: Study,
    round_: Round | int | None = None,
    *,
    rank_by: str | None = None,
    split: str | None = None,
) -> EventRanking:
    """The study's events ranked (rank_by, split: see analysis.ranking; default: the study's
    analysis settings) from closed rounds up to `round_` (default: all). Raises analysis'
    InputError for an unknown rank_by or split."""
    settings = settings_of(study)
    snapshots = closed_snapshots(session, study, round_)
    if not snapshots:
        raise NotFoundError("No round has closed yet: there are no results.")
    latest = latest_item_data(snapshots)
    impact = impact_question(study)
    neutral, largest = 0.0, None
    scale = impact.scale if impact is not None else None
    if scale is not None and scale.min is not None and scale.max is not None:
        neutral, largest = impact_reference(scale.min, scale.max, bipolar=bool(scale.bipolar))
    figures, rounds = [], {}
    for item in study.items:
        if item.kind != ItemKind.EVENT:
            continue
        found = latest.get(item.key)
        if found is None:
            figures.append(EventFigures(item.key, None, None))
            continue
        number, entry = found
        rounds[item.key] = number
        asked = probability_question(item, study.horizon)
        shown = entry.shown_part(asked[0].key, asked[1]) if asked else None
        probability = shown.pooled_logodds if shown is not None else None
        median = None
        if impact is not None and any(q.key == impact.key for q in item.questions):
            impact_part = entry.shown_part(impact.key, "")
            median = impact_part.median if impact_part is not None else None
        figures.append(
            EventFigures(
                item.key,
                None if probability is None else float(probability) / 100.0,
                None if median is None else float(median),
            )
        )
    return EventRanking(
        round_number=snapshots[-1][0].number,
        impact_question=impact.key if impact is not None else None,
        ranking=rank_events(
            figures,
            rank_by or settings.rank_by,
            neutral=neutral,
            largest_impact=largest,
            split=split or settings.quadrant_split,
        ),
        rounds=rounds,
    )
