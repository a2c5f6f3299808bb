"""Realisations, outcomes and trend values (record and read), Cooke's performance weights,
pooled probabilities under three weightings, and Brier and log scores of resolved forecasts."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from app.api import bp
from app.api.auth import current_user, errors, facilitator_auth, study_of
from app.api.routes_results import ROUND_PATH, _closed
from app.database import atomic
from app.extensions import db
from app.messages import render
from app.models import utcnow
from app.services import calibration, forecast_scores, resolutions, trend_scores

TAGS = ["calibration"]


class ResolutionInputSchema(Schema):
    """One figure to record; the fields needed depend on `kind`."""

    kind = fields.String(
        required=True, validate=validate.OneOf(["realisation", "outcome", "trend_value"])
    )
    item = fields.String(required=True, metadata={"description": "The item's key, e.g. C01"})
    value = fields.Float(
        load_default=None, allow_none=True, metadata={"description": "realisation, trend_value"}
    )
    occurred = fields.Boolean(
        load_default=None, allow_none=True, metadata={"description": "outcome"}
    )
    resolved_on = fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"description": "outcome: the date it occurred, or up to which it had not"},
    )
    year = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "trend_value"}
    )
    source = fields.String(required=True, metadata={"description": "Where the figure comes from"})


class RecordedSchema(Schema):
    """A recorded figure and its provenance."""

    item_key = fields.String()
    kind = fields.String()
    value = fields.Float(allow_none=True)
    occurred = fields.Boolean(allow_none=True)
    resolved_on = fields.Date(allow_none=True)
    year = fields.Integer(allow_none=True)
    source = fields.String()
    recorded_by = fields.String()
    recorded_at = fields.DateTime(allow_none=True)
    from_survey = fields.Boolean(metadata={"description": "the survey file's true_value"})


class ResolutionsSchema(Schema):
    """The current figures and every entry ever recorded (newest first)."""

    current = fields.List(fields.Nested(RecordedSchema))
    history = fields.List(fields.Nested(RecordedSchema))


class ExpertWeightSchema(Schema):
    """One pseudonym's Cooke scores (never a name or group)."""

    pseudonym = fields.String()
    calibration = fields.Float(allow_none=True)
    information = fields.Float(allow_none=True)
    weight = fields.Float(allow_none=True, metadata={"description": "normalised global weight"})
    seeds_answered = fields.Integer()


class CalibrationSchema(Schema):
    """Cooke's classical model on the realised seeds."""

    round = fields.Integer(allow_none=True)
    seeds = fields.List(fields.String())
    seeds_pending = fields.List(fields.String())
    min_seeds = fields.Integer(metadata={"description": "Cooke's advice: at least this many"})
    few_seeds = fields.Boolean(metadata={"description": "fewer seeds than min_seeds: a warning"})
    levels = fields.List(fields.Float())
    n_scored = fields.Integer()
    per_expert_shown = fields.Boolean(
        metadata={"description": "false when fewer than k experts were scored"}
    )
    alpha = fields.Float(
        allow_none=True, metadata={"description": "the calibration threshold (optimised or fixed)"}
    )
    alpha_optimised = fields.Boolean(
        metadata={
            "description": "true: alpha optimised as Cooke does; false: the study's fixed alpha"
        }
    )
    n_effective = fields.Integer(allow_none=True)
    dm_calibration = fields.Float(allow_none=True)
    dm_information = fields.Float(allow_none=True)
    experts = fields.List(fields.Nested(ExpertWeightSchema))
    notes = fields.List(fields.String())


_METHODS = fields.Dict(
    keys=fields.String(),
    values=fields.Float(allow_none=True),
    allow_none=True,
    metadata={"description": "method (logodds, linear, median) -> percent; null: no weights"},
)


class WeightedRowSchema(Schema):
    """One probability part pooled under each weighting."""

    item = fields.String()
    question = fields.String()
    part = fields.String()
    n = fields.Integer()
    equal = _METHODS
    self_rated = _METHODS
    performance = _METHODS
    counted = fields.Dict(keys=fields.String(), values=fields.Integer())


class WeightedPoolingSchema(Schema):
    """A closed round's pooled probabilities under equal, self-rated and performance weights."""

    round = fields.Integer()
    weightings = fields.List(fields.String())
    methods = fields.List(fields.String())
    eps = fields.Float()
    self_rating_source = fields.String(allow_none=True)
    rows = fields.List(fields.Nested(WeightedRowSchema))
    calibration = fields.Nested(CalibrationSchema)
    notes = fields.List(fields.String())


class ScoreSchema(Schema):
    """Mean Brier and log scores over n resolved forecasts (lower is better)."""

    n = fields.Integer()
    brier = fields.Float(allow_none=True)
    log = fields.Float(allow_none=True)


class PseudonymScoreSchema(ScoreSchema):
    """One pseudonym's scores."""

    pseudonym = fields.String()


class ResolvedPartSchema(Schema):
    """A forecast part with a known outcome."""

    item = fields.String()
    question = fields.String()
    part = fields.String()
    year = fields.Integer()
    outcome = fields.Integer()


class ForecastScoresSchema(Schema):
    """Brier and log scores (log score clipped to [eps, 1 - eps]) of a round's forecasts."""

    round = fields.Integer()
    eps = fields.Float()
    performance_few_seeds = fields.Boolean(
        metadata={
            "description": "the performance-weighted panel rests on fewer realised seeds than "
            "Cooke advises (the study's cooke_min_seeds)"
        }
    )
    resolved = fields.List(fields.Nested(ResolvedPartSchema))
    panel = fields.Dict(keys=fields.String(), values=fields.Nested(ScoreSchema))
    per_expert_shown = fields.Boolean()
    experts = fields.List(fields.Nested(PseudonymScoreSchema))
    notes = fields.List(fields.String())


class TrendTargetSchema(Schema):
    """One trend question scored against its realised value."""

    item = fields.String()
    question = fields.String()
    round = fields.Integer(metadata={"description": "the closed round whose estimates are scored"})
    year = fields.Integer()
    realised = fields.Float()
    levels = fields.List(fields.Float(), metadata={"description": "quantile levels in (0, 1)"})
    coverage = fields.Float(metadata={"description": "nominal probability of the interval"})
    n = fields.Integer(metadata={"description": "experts with a complete estimate"})
    panel = fields.List(
        fields.Float(),
        allow_none=True,
        metadata={"description": "median of the experts at each level; null under k"},
    )
    pinball = fields.Float(allow_none=True, metadata={"description": "the panel's pinball loss"})
    inside = fields.Boolean(allow_none=True)


class TrendHitsSchema(Schema):
    """How often the panel's interval held the realised value."""

    hits = fields.Integer()
    n = fields.Integer()
    hit_rate = fields.Float(allow_none=True)


class PseudonymTrendScoreSchema(Schema):
    """One pseudonym's trend scores (never a name or group)."""

    pseudonym = fields.String()
    n = fields.Integer()
    hits = fields.Integer()
    hit_rate = fields.Float()
    pinball = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "trend item -> mean pinball loss in the trend's unit"},
    )


class TrendScoresSchema(Schema):
    """Trend estimates against realised values: pinball loss (lower is better), interval hits."""

    round = fields.Integer()
    year = fields.Integer(metadata={"description": "the year the trend questions ask about"})
    targets = fields.List(fields.Nested(TrendTargetSchema))
    panel = fields.Nested(TrendHitsSchema)
    per_expert_shown = fields.Boolean(
        metadata={"description": "false when fewer than k experts were scored"}
    )
    experts = fields.List(fields.Nested(PseudonymTrendScoreSchema))
    notes = fields.List(fields.String())


def _recorded(recorded: resolutions.Recorded) -> dict[str, Any]:
    """A recorded figure as a dict."""
    return dict(recorded.__dict__)


def _resolutions(study_id: int) -> dict[str, Any]:
    """The study's current figures and history."""
    study = study_of(study_id)
    current = resolutions.current(db.session, study)
    figures = [
        *current.realisations.values(),
        *current.outcomes.values(),
        *(r for years in current.trend_values.values() for r in years.values()),
    ]
    return {
        "current": [_recorded(r) for r in figures],
        "history": [_recorded(r) for r in resolutions.history(db.session, study)],
    }


@bp.route("/studies/<id:study_id>/resolutions", methods=["GET"], tags=TAGS, endpoint="resolutions")
@bp.response(200, ResolutionsSchema)
@facilitator_auth
def list_resolutions(study_id: int) -> Any:
    """Realisations (recorded, or the survey file's true_value), outcomes and trend values."""
    return _resolutions(study_id)


@bp.route(
    "/studies/<id:study_id>/resolutions", methods=["POST"], tags=TAGS, endpoint="record_resolution"
)
@bp.response(201, RecordedSchema)
@errors(422)
@facilitator_auth
@bp.arguments(ResolutionInputSchema)
@atomic
def record_resolution(data: dict[str, Any], study_id: int) -> Any:
    """Record (or correct: the latest entry counts) a realisation, an outcome or a trend value."""
    study = study_of(study_id)
    common = {"source": data["source"], "actor": current_user(), "now": utcnow()}
    kind, item = data["kind"], data["item"]
    if kind == "realisation":
        resolutions.record_realisation(db.session, study, item, value=data["value"], **common)
    elif kind == "outcome":
        on: date | None = data["resolved_on"]
        resolutions.record_outcome(
            db.session, study, item, occurred=data["occurred"], on=on, **common
        )
    else:
        resolutions.record_trend_value(
            db.session, study, item, year=data["year"], value=data["value"], **common
        )
    current = resolutions.current(db.session, study)
    found = {
        "realisation": current.realisations.get(item),
        "outcome": current.outcomes.get(item),
        "trend_value": current.trend_values.get(item, {}).get(data["year"] or 0),
    }[kind]
    return _recorded(found) if found else {}, 201


@bp.route("/studies/<id:study_id>/calibration", methods=["GET"], tags=TAGS, endpoint="calibration")
@bp.response(200, CalibrationSchema)
@facilitator_auth
def study_calibration(study_id: int) -> Any:
    """Cooke's scores and performance weights on the seeds realised so far (closed rounds).

    Per-pseudonym rows only when at least k experts were scored; `few_seeds` warns when fewer
    than `min_seeds` (the study's `cooke_min_seeds`, 8 by default) seed items have realisations.
    """
    return calibration.score_panel(db.session, study_of(study_id)).as_dict()


@bp.route(f"{ROUND_PATH}/weighted", methods=["GET"], tags=TAGS, endpoint="round_weighted")
@bp.response(200, WeightedPoolingSchema)
@errors(409)
@facilitator_auth
def round_weighted(study_id: int, number: int) -> Any:
    """A closed round's pooled probabilities (percent) under equal weights (the snapshot's own
    numbers), self-rated expertise and Cooke's performance weights, side by side."""
    study = study_of(study_id)
    round_, _snapshot = _closed(study, number)
    return calibration.weighted_pooling(db.session, study, round_).as_dict()


@bp.route(f"{ROUND_PATH}/scores", methods=["GET"], tags=TAGS, endpoint="round_scores")
@bp.response(200, ForecastScoresSchema)
@errors(409)
@facilitator_auth
def round_scores(study_id: int, number: int) -> Any:
    """Brier and log scores of a closed round's forecasts of events with recorded outcomes,
    per pseudonym (k or more) and for the pooled panel under each weighting."""
    study = study_of(study_id)
    round_, _snapshot = _closed(study, number)
    return forecast_scores.score_round(db.session, study, round_).as_dict()


@bp.route(f"{ROUND_PATH}/trend-scores", methods=["GET"], tags=TAGS, endpoint="round_trend_scores")
@bp.response(200, TrendScoresSchema)
@errors(409)
@facilitator_auth
def round_trend_scores(study_id: int, number: int) -> Any:
    """Pinball loss and interval hits of the trend estimates (up to a closed round) against
    the values realised in the year they ask about, per pseudonym (k or more) and for the panel."""
    study = study_of(study_id)
    round_, _snapshot = _closed(study, number)
    scored = trend_scores.score_trends(db.session, study, round_)
    return {**scored.as_dict(), "notes": [render(n, _) for n in scored.notes]}
