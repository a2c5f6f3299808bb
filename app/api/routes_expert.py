"""The expert's side: where they stand, consent, the open round (own answers and feedback),
saving one item at a time (idempotent) and submitting. An expert only ever reaches their own
participation: every route reads it from the link token, none takes an expert's id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.api import bp, present
from app.api.auth import current_expert, errors, expert_auth
from app.api.problems import ProblemError, flatten_errors
from app.api.schemas import (
    ConsentSchema,
    ExpertHomeSchema,
    ExpertRoundSchema,
    IdempotencyHeaderSchema,
    SavedItemSchema,
    SaveItemSchema,
    SubmittedSchema,
)
from app.database import atomic
from app.definitions.model import QuestionKind
from app.extensions import db, feedback_views
from app.models import (
    ConflictError,
    Participation,
    Question,
    Round,
    RoundClosedError,
    RoundItem,
    RoundProgress,
    RoundState,
    StateError,
    ValidationError,
    pick_text,
    utcnow,
)
from app.services import answers as answer_service
from app.services import feedback as feedback_service
from app.services import panel, round_progress
from app.services import rounds as round_service
from app.services.answer_values import ROW_RATINGS
from app.services.feedback import ItemFeedback
from app.services.tidy import ROW_KINDS, TREND_IMPACT_PARTS

TAGS = ["expert"]
#: how often a save is retried when an identical save committed in the meantime
SAVE_ATTEMPTS = 3


def _text(me: Participation, texts: Mapping[str, str] | None) -> str:
    """A text in the expert's language (else the study's default language)."""
    return pick_text(dict(texts or {}), me.language, me.study.default_language)


def _home(me: Participation) -> dict[str, Any]:
    """Where the expert stands."""
    study = me.study
    rounds = round_service.rounds_of(db.session, study)
    open_round = next((r for r in rounds if r.state == RoundState.OPEN), None)
    return {
        "study": {
            "title": _text(me, study.title),
            "description": _text(me, study.description),
            "welcome": _text(me, study.welcome),
            "consent": _text(me, study.consent),
            "languages": list(study.languages),
        },
        "language": me.language,
        "status": me.status,
        "consented": me.consent_at is not None,
        "open_round": open_round.number if open_round is not None else None,
        "rounds": [{"number": r.number, "state": r.state} for r in rounds if r.state != "draft"],
    }


@bp.route("/expert", methods=["GET"], tags=TAGS, endpoint="expert_home")
@bp.response(200, ExpertHomeSchema)
@expert_auth
def expert_home() -> Any:
    """The study (in your language), whether you consented, and which round is open."""
    return _home(current_expert())


@bp.route("/expert/consent", methods=["POST"], tags=TAGS, endpoint="expert_consent")
@bp.response(200, ExpertHomeSchema)
@errors(422)
@expert_auth
@bp.arguments(ConsentSchema)
@atomic
def expert_consent(data: dict[str, Any]) -> Any:
    """Agree to take part (after reading the consent text); optionally choose your language."""
    me = current_expert()
    language = data["language"] or me.language
    if language not in me.study.languages:
        raise ProblemError(
            422,
            _("Invalid input"),
            _("Choose one of the study's languages."),
            errors={"language": [", ".join(me.study.languages)]},
        )
    panel.record_consent(db.session, me, language=language, now=utcnow())
    return _home(me)


def _open_round(me: Participation) -> Round:
    """The study's open round, or a 404 problem."""
    round_ = round_service.open_round_of(db.session, me.study)
    if round_ is None:
        raise ProblemError(404, _("Not found"), _("No round is open at the moment."))
    return round_


def _question(me: Participation, question: Question, horizon: int) -> dict[str, Any]:
    """A question in the expert's language, with the shape of its answer."""
    scale = question.scale
    kind = question.kind
    config = question.config
    horizons = [str(y) for y in config.get("horizons", [])]
    shape = "text" if kind == QuestionKind.TEXT else "value"
    if kind in (
        QuestionKind.QUANTILES,
        QuestionKind.CONDITIONAL,
        QuestionKind.TREND_IMPACT,
        *ROW_KINDS,
    ) or (kind == QuestionKind.PROBABILITY and horizons):
        shape = "values"
    row = QuestionKind(kind) in ROW_RATINGS
    return {
        "key": question.key,
        "kind": kind,
        "prompt": _text(me, question.prompt).replace("{horizon}", str(horizon)),
        "help": _text(me, question.help),
        "required": question.required,
        "allow_no_answer": question.allow_no_answer,
        "scale": None
        if scale is None
        else {
            "key": scale.key,
            "kind": scale.kind,
            "min": scale.min,
            "max": scale.max,
            "step": scale.step,
            "labels": {point: _text(me, texts) for point, texts in scale.labels.items()},
            "unit": _text(me, scale.unit),
        },
        "answer": shape,
        "horizons": horizons,
        "quantiles": [str(q) for q in config.get("quantiles", [])],
        "given": [str(e) for e in config.get("given", [])],
        "impact_fields": list(TREND_IMPACT_PARTS) if kind == QuestionKind.TREND_IMPACT else [],
        "max_length": config.get("max_length") if kind == QuestionKind.TEXT else None,
        "columns": [str(c) for c in config.get("columns", [])] if row else [],
        "ratings": list(ROW_RATINGS[QuestionKind(kind)]) if row else [],
    }


def _feedback(found: ItemFeedback | None) -> dict[str, Any] | None:
    """The previous round's feedback for an item (already k-suppressed in the snapshot)."""
    if found is None:
        return None
    return {
        "round": found.round_number,
        "questions": {
            key: [
                {
                    "part": part.label,
                    "n": part.n,
                    "median": part.median,
                    "q1": part.q1,
                    "q3": part.q3,
                    "histogram": list(part.histogram),
                    "own": part.own,
                    "consensus": part.consensus,
                    "pooled": part.pooled,
                }
                for part in parts
            ]
            for key, parts in found.questions.items()
        },
        "reasons": list(found.reasons),
        "reasons_withheld": found.reasons_withheld,
        "own_reason": found.own_reason,
    }


def _answered_items(me: Participation, round_: Round) -> int:
    """How many of the round's items have every required answer and no draft left."""
    return round_progress.answered_item_count(db.session, me, round_)


@bp.route("/expert/round", methods=["GET"], tags=TAGS, endpoint="expert_round")
@bp.response(200, ExpertRoundSchema)
@errors(404)
@expert_auth
def expert_round() -> Any:
    """The open round, in your language.

    Items with their questions, your saved answers and the panel's feedback from the previous
    round (frozen at its close; nothing from fewer than k answers).
    """
    me = current_expert()
    round_ = _open_round(me)
    saved = answer_service.current_answers(db.session, me, round_)
    feedback = feedback_service.feedback_for(db.session, me, round_, feedback_views())
    horizon = me.study.horizon
    items = []
    for round_item in round_.items:
        item, version = round_item.item, round_item.version
        questions = item.questions_in(round_.number)
        changed = version.number > 1 and version.introduced_in_round == round_.number
        items.append(
            {
                "key": item.key,
                "kind": item.kind,
                "title": _text(me, version.title),
                "text": _text(me, version.text),
                "version": version.number,
                "change_note": _text(me, version.change_note) if changed else None,
                "questions": [_question(me, q, horizon) for q in questions],
                "answers": {q.key: present.answer(saved[q.id]) for q in questions if q.id in saved},
                "feedback": _feedback(feedback.get(item.key)),
            }
        )
    progress = db.session.get(RoundProgress, (me.id, round_.id))
    return {
        "number": round_.number,
        "deadline": round_.deadline,
        "message": _text(me, round_.message),
        "items": items,
        "progress": {
            "answered": _answered_items(me, round_),
            "total": len(round_.items),
            "submitted_at": progress.submitted_at if progress is not None else None,
            "submit_count": progress.submit_count if progress is not None else 0,
        },
    }


def _echo() -> Any:
    """The request's body, to give back with a refusal (nothing of it was saved)."""
    return request.get_json(silent=True)


def _round_item(round_: Round, item_key: str) -> RoundItem:
    """The item the round asks under this key, or a 404 problem."""
    found = next((ri for ri in round_.items if ri.item.key == item_key), None)
    if found is None:
        raise ProblemError(
            404,
            _("Not found"),
            _("This round does not ask an item with that key."),
            payload=_echo(),
        )
    return found


def _save(
    me: Participation,
    round_: Round,
    round_item: RoundItem,
    payloads: Mapping[str, Mapping[str, Any]],
    key: str | None,
    now: datetime,
) -> answer_service.SaveResult:
    """Save inside a savepoint; if an identical save (same key) committed meanwhile, replay it."""
    for attempt in range(SAVE_ATTEMPTS):
        try:
            with db.session.begin_nested():
                return answer_service.save_item(
                    db.session,
                    me,
                    round_,
                    round_item.item,
                    payloads,
                    idempotency_key=key,
                    now=now,
                )
        except IntegrityError:
            # a concurrent request stored this save (or another revision) first: read again
            if attempt == SAVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _saved_body(item_key: str, result: answer_service.SaveResult) -> dict[str, Any]:
    """The stored answers after a save; a replay yields the same body as the first save."""
    stored = {key: present.answer(a) for key, a in sorted(result.answers.items())}
    times = [a.created_at for a in result.answers.values()]
    return {"item": item_key, "answers": stored, "saved_at": max(times) if times else None}


@bp.route("/expert/round/items/<item_key>", methods=["PUT"], tags=TAGS, endpoint="save_item")
@bp.response(
    200,
    SavedItemSchema,
    headers={
        "Idempotent-Replayed": {
            "description": "'true' when this answers a repeated request (same key and body)",
            "schema": {"type": "string", "enum": ["true"]},
        }
    },
)
@errors(404, 409, 422)
@expert_auth
@bp.arguments(IdempotencyHeaderSchema, location="headers")
@bp.arguments(SaveItemSchema)
@atomic
def save_item(headers: dict[str, Any], data: dict[str, Any], item_key: str) -> Any:
    """Save one item's answers, all or none.

    The body maps question keys to answers. With an Idempotency-Key, a repeated request is
    answered from what was stored (header Idempotent-Replayed: true); the same key with other
    answers is a 409 problem and changes nothing. A closed round is a 409 problem with your
    answers echoed back in `payload`.
    """
    me = current_expert()
    key = headers.get("idempotency_key")
    # a retry of a save acknowledged before the round closed is answered as a replay
    round_ = round_service.open_round_of(db.session, me.study) or answer_service.round_of_request(
        db.session, me, key
    )
    if round_ is None:
        raise ProblemError(
            409,
            _("Round closed"),
            _("No round is open; this change was not saved."),
            payload=_echo(),
        )
    round_item = _round_item(round_, item_key)
    try:
        now = utcnow()
        result = _save(me, round_, round_item, data["answers"], key, now)
    except RoundClosedError:
        raise ProblemError(
            409,
            _("Round closed"),
            _("The round is closed; this change was not saved."),
            payload=_echo(),
        ) from None
    except ConflictError as error:
        raise ProblemError(409, _("Conflict"), str(error), payload=_echo()) from None
    except ValidationError as error:
        raise ProblemError(
            422,
            _("Invalid answer"),
            _("Not saved: please check this item."),
            errors=flatten_errors(error.errors),
            payload=_echo(),
        ) from None
    except StateError as error:
        raise ProblemError(409, _("Not possible now"), str(error), payload=_echo()) from None
    extra = {"Idempotent-Replayed": "true"} if result.replay else {}
    return _saved_body(item_key, result), 200, extra


def _missing(problems: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Submit problems (item key -> question keys) as readable messages per item."""
    messages: dict[str, list[str]] = {}
    for item_key, entries in problems.items():
        for entry in entries:
            question, _sep, flag = entry.partition(":")
            if flag == "outside_iqr":
                text = _(
                    "%(question)s: your answer is outside the panel's middle range; please say why.",
                    question=question,
                )
            elif flag == "draft":
                text = _(
                    "%(question)s: the answer typed so far is incomplete.",
                    question=question,
                )
            else:
                text = _("%(question)s: this answer is missing.", question=question)
            messages.setdefault(item_key, []).append(text)
    return messages


@bp.route("/expert/round/submit", methods=["POST"], tags=TAGS, endpoint="submit_round")
@bp.response(200, SubmittedSchema)
@errors(404, 409, 422)
@expert_auth
@atomic
def submit_round() -> Any:
    """Submit the open round.

    You may still change answers and submit again until the round closes. A 422 problem lists,
    per item, every answer still missing.
    """
    me = current_expert()
    round_ = _open_round(me)
    feedback = feedback_service.feedback_for(db.session, me, round_, feedback_views())
    flagged = (
        feedback_service.outside_iqr(db.session, me, round_, feedback)
        if me.study.reason_outside_iqr
        else {}
    )
    try:
        progress = round_progress.submit_round(
            db.session, me, round_, now=utcnow(), outside_iqr=flagged
        )
    except ValidationError as error:
        raise ProblemError(
            422,
            _("Answers missing"),
            _("The round is not submitted yet: some answers are missing."),
            errors=_missing(error.errors),
        ) from None
    return {
        "round": round_.number,
        "submitted_at": progress.submitted_at,
        "submit_count": progress.submit_count,
    }
