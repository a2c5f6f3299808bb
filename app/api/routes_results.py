"""Results of closed rounds, read from their frozen snapshots (never recomputed from answers),
and the study's scenario ranking and trend impact analysis over the final estimates."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from analysis.ranking import DEFAULT_RANK_BY, RANK_BY
from analysis.snapshot import ItemSummary, PartSummary, QuestionSummary, SnapshotData
from app.api import bp
from app.api.auth import errors, facilitator_auth, study_of
from app.api.problems import ProblemError
from app.api.schemas import (
    ConsensusTableSchema,
    PooledTableSchema,
    RoundResultsSchema,
    ScenarioResultsSchema,
    StabilityTableSchema,
    TrendImpactSchema,
)
from app.extensions import db
from app.messages import render
from app.models import Round, RoundState, Snapshot, Study
from app.services import calibration
from app.services import ranking as ranking_service
from app.services import results as results_service
from app.services import rounds as round_service

TAGS = ["results"]


def _closed(study: Study, number: int) -> tuple[Round, Snapshot]:
    """A closed round of the study and its snapshot, or a problem (404 / 409)."""
    round_ = round_service.round_for(db.session, study, number)
    snapshot = round_.snapshot
    if round_.state != RoundState.CLOSED or snapshot is None:
        raise ProblemError(
            409,
            _("Not possible now"),
            _(
                "Round %(n)s is %(state)s; its results exist once it closes.",
                n=number,
                state=round_.state,
            ),
        )
    return round_, snapshot


def _item_entries(round_: Round, content: SnapshotData) -> Iterator[tuple[str, ItemSummary]]:
    """The snapshot's items in the round's order (JSON objects do not keep order everywhere)."""
    for round_item in round_.items:
        key = round_item.item.key
        if key in content.items:
            yield key, content.items[key]


def _parts(question: QuestionSummary) -> Iterator[tuple[str, PartSummary]]:
    """A question's parts in their natural order (years and quantiles as numbers)."""

    def order(name: str) -> tuple[int, float, str]:
        try:
            return (0, float(name), name)
        except ValueError:
            return (1, 0.0, name)

    for name in sorted(question.parts, key=order):
        yield name, question.parts[name]


def _groups(part: PartSummary) -> list[dict[str, Any]] | None:
    """Per-group statistics as a list (suppressed groups keep only their name)."""
    if not part.groups:
        return None
    rows = []
    for name, group in sorted(part.groups.items()):
        stored = group.to_dict()
        rows.append(
            {
                "group": name,
                "suppressed": group.suppressed,
                "n": group.n,
                "stats": stored.get("stats"),
                "histogram": stored.get("histogram"),
            }
        )
    return rows


def _part_result(name: str, part: PartSummary) -> dict[str, Any]:
    """One part's frozen statistics."""
    stored = part.to_dict()  # the nested figures leave exactly as they were frozen
    return {
        "part": name,
        "suppressed": part.suppressed,
        "n": part.n,
        "stats": stored.get("stats"),
        "histogram": stored.get("histogram"),
        "consensus": stored.get("consensus"),
        "pooled": stored.get("pooled"),
        "stability": stored.get("stability"),
        "groups": _groups(part),
    }


def _questions(entry: ItemSummary) -> Iterator[tuple[str, QuestionSummary]]:
    """An item's questions in key order."""
    for key in sorted(entry.questions):
        yield key, entry.questions[key]


def _results(round_: Round, snapshot: Snapshot) -> dict[str, Any]:
    """The whole snapshot, as lists in a stable order."""
    content = snapshot.content
    items = []
    for key, entry in _item_entries(round_, content):
        items.append(
            {
                "key": key,
                "item_id": entry.item_id,
                "version": entry.version,
                "respondents": entry.respondents,
                "questions": [
                    {
                        "key": q_key,
                        "kind": question.kind,
                        "scale": question.scale,
                        "no_answer": question.no_answer,
                        "parts": [_part_result(n, p) for n, p in _parts(question)],
                    }
                    for q_key, question in _questions(entry)
                ],
                "reasons": list(entry.reasons),
                "reasons_withheld": entry.reasons_withheld,
            }
        )
    return {
        "round": round_.number,
        "closed_at": round_.closed_at,
        "k": content.k,
        "k_comments": content.k_comments,
        "quantile_method": content.quantile_method,
        "consensus_rule": content.consensus_rule,
        "stability_rule": content.stability_rule,
        "previous_round": content.previous_round,
        "respondents": content.respondents,
        "answer_count": snapshot.answer_count,
        "items": items,
    }


def _rows(
    round_: Round, snapshot: Snapshot
) -> Iterator[tuple[str, str, str, QuestionSummary, PartSummary]]:
    """(item, question key, part name, question, part) for every numeric part in the snapshot."""
    for key, entry in _item_entries(round_, snapshot.content):
        for q_key, question in _questions(entry):
            for name, part in _parts(question):
                yield key, q_key, name, question, part


#: question kinds without a consensus rule (their spread is reported, not judged)
_NO_CONSENSUS_KINDS = {"quantiles", "trend_impact", "influence", "actor_influence", "positions"}


ROUND_PATH = "/studies/<id:study_id>/rounds/<id:number>"


class RoundResultsQuerySchema(Schema):
    """How to rank the events in a round's results."""

    rank_by = fields.String(
        load_default=None,
        validate=validate.OneOf(
            RANK_BY, error="rank_by must be one of {choices}; {input!r} is not one of them."
        ),
        metadata={
            "description": "expected_impact (pooled probability x median impact), probability, "
            "impact or quadrant (of the probability-impact matrix); default: the study's "
            f"rank_by analysis setting ({DEFAULT_RANK_BY} unless the survey file sets it)"
        },
    )


@bp.route(f"{ROUND_PATH}/results", methods=["GET"], tags=TAGS, endpoint="round_results")
@bp.response(200, RoundResultsSchema)
@errors(409)
@facilitator_auth
@bp.arguments(RoundResultsQuerySchema, location="query")
def round_results(query: dict[str, Any], study_id: int, number: int) -> Any:
    """Item statistics of a closed round.

    Per question part, overall and by group (nothing from fewer than k answers), with consensus,
    stability, pooled probabilities and the anonymous reasons, all read from the snapshot frozen
    at the round's close; and the events ranked (`rank_by`) by their latest estimates up to
    this round.
    """
    study = study_of(study_id)
    round_, snapshot = _closed(study, number)
    body = _results(round_, snapshot)
    # rank_by defaults to the study's analysis setting
    ranking = ranking_service.event_ranking(db.session, study, round_, rank_by=query["rank_by"])
    body["ranking"] = _finite(ranking.as_dict())
    return body


@bp.route(f"{ROUND_PATH}/consensus", methods=["GET"], tags=TAGS, endpoint="round_consensus")
@bp.response(200, ConsensusTableSchema)
@errors(409)
@facilitator_auth
def round_consensus(study_id: int, number: int) -> Any:
    """Consensus verdicts of a closed round: the pre-registered rule and the comparison presets."""
    round_, snapshot = _closed(study_of(study_id), number)
    rows = []
    for item, q_key, name, question, part in _rows(round_, snapshot):
        if question.kind in _NO_CONSENSUS_KINDS:
            continue
        consensus = part.consensus
        rows.append(
            {
                "item": item,
                "question": q_key,
                "part": name,
                "n": part.n,
                "rule": consensus.rule if consensus else None,
                "reached": consensus.reached if consensus else None,
                "presets": dict(consensus.presets) if consensus else {},
            }
        )
    return {"round": round_.number, "rule": snapshot.content.consensus_rule, "rows": rows}


@bp.route(f"{ROUND_PATH}/stability", methods=["GET"], tags=TAGS, endpoint="round_stability")
@bp.response(200, StabilityTableSchema)
@errors(409)
@facilitator_auth
def round_stability(study_id: int, number: int) -> Any:
    """How answers moved since the previous round (parts with at least k paired answers)."""
    round_, snapshot = _closed(study_of(study_id), number)
    rows = [
        {"item": item, "question": q_key, "part": name, **part.stability.to_dict()}
        for item, q_key, name, _question, part in _rows(round_, snapshot)
        if part.stability is not None
    ]
    return {
        "round": round_.number,
        "previous_round": snapshot.content.previous_round,
        "rule": snapshot.content.stability_rule,
        "rows": rows,
    }


@bp.route(f"{ROUND_PATH}/pooled", methods=["GET"], tags=TAGS, endpoint="round_pooled")
@bp.response(200, PooledTableSchema)
@errors(409)
@facilitator_auth
def round_pooled(study_id: int, number: int) -> Any:
    """Pooled probabilities (percent) of a closed round: log-odds, linear and median pooling.

    Equal weights (the snapshot's numbers) are the headline; `self_rated` and `performance` pool
    the same answers with self-rated expertise and Cooke's performance weights.
    """
    study = study_of(study_id)
    round_, snapshot = _closed(study, number)
    weighted = calibration.weighted_pooling(db.session, study, round_)
    rows = [
        {
            "item": item,
            "question": q_key,
            "part": name,
            "n": part.n,
            **part.pooled.to_dict(),
            **_weighted_columns(weighted, item, q_key, name),
        }
        for item, q_key, name, _question, part in _rows(round_, snapshot)
        if part.pooled is not None and part.n is not None
    ]
    return {"round": round_.number, "rows": rows, "weighting": _weighting(weighted)}


def _weighted_columns(
    weighted: calibration.WeightedPooling, item: str, question: str, part: str
) -> dict[str, Any]:
    """The self-rated and performance columns of one part (null where there are no weights)."""
    row = weighted.row(item, question, part)
    pooled = row.pooled if row is not None else {}
    return {
        name: dict(pooled[name]) if pooled.get(name) is not None else None  # type: ignore[arg-type]
        for name in ("self_rated", "performance")
    }


def _weighting(weighted: calibration.WeightedPooling) -> dict[str, Any]:
    """How the weighted columns were made, with Cooke's caveats, notes translated."""
    cal = weighted.calibration
    return {
        "self_rating_source": weighted.self_rating_source,
        "seeds": len(cal.seeds),
        "min_seeds": cal.min_seeds,
        "few_seeds": cal.few_seeds,
        "alpha": cal.alpha,
        "alpha_optimised": cal.alpha_optimised,
        "notes": [render(note, _) for note in (*cal.notes, *weighted.notes)],
    }


class AnalysisQuerySchema(Schema):
    """Which closed round to analyse (default: all closed rounds), and the random seed."""

    round = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Use closed rounds up to this one (default: all)"},
    )
    seed = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=2**32 - 1),
        metadata={
            "description": "Seed of every random procedure (default: the study's analysis "
            "settings; the same seed gives the same results)"
        },
    )


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities (anywhere inside) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@bp.route("/studies/<id:study_id>/scenarios", methods=["GET"], tags=TAGS, endpoint="scenarios")
@bp.response(200, ScenarioResultsSchema)
@facilitator_auth
@bp.arguments(AnalysisQuerySchema, location="query")
def scenarios(query: dict[str, Any], study_id: int) -> Any:
    """Scenario probabilities from the final pooled estimates.

    The most likely scenarios under SMIC (with bounds), maximum entropy and cross-impact
    simulation, and the probabilities of the scenarios the survey file names.
    """
    study = study_of(study_id)
    result = results_service.scenario_results(db.session, study, query["round"], seed=query["seed"])
    body = _finite(result.as_dict())
    body["notes"] = [render(note, _) for note in result.notes]
    return body


@bp.route("/studies/<id:study_id>/tia", methods=["GET"], tags=TAGS, endpoint="trend_impacts")
@bp.response(200, TrendImpactSchema(many=True))
@facilitator_auth
@bp.arguments(AnalysisQuerySchema, location="query")
def trend_impacts(query: dict[str, Any], study_id: int) -> Any:
    """Trend impact analysis of every trend: baseline, the events' impacts and the forecast band."""
    study = study_of(study_id)
    found = results_service.tia_results(db.session, study, query["round"], seed=query["seed"])
    bodies = []
    for trend in found:
        body = _finite(trend.as_dict())
        body["notes"] = [render(note, _) for note in trend.notes]
        bodies.append(body)
    return bodies
