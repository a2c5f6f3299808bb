"""The expert's side: consent, the round form (autosaved per item), feedback, submission."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import Length, Optional

from app.auth import EXPERT_SESSION_KEY, current_participation, expert_required
from app.database import atomic
from app.errors import csrf_failure, problem
from app.expert.forms import RoundForm, build_round_form, part_label, payload_for, question_fields
from app.extensions import db, feedback_views
from app.i18n import render_message
from app.models import (
    ConflictError,
    Item,
    Participation,
    Round,
    RoundClosedError,
    RoundItem,
    RoundProgress,
    StateError,
    Study,
    ValidationError,
    utcnow,
)
from app.services import answers as answer_service
from app.services import feedback as feedback_service
from app.services import panel
from app.services import rounds as round_service
from app.services.feedback import ItemFeedback
from app.services.snapshots import previous_closed_round
from app.templating import translated

bp = Blueprint("expert", __name__, url_prefix="/e")


def translated_errors(error: ValidationError) -> dict[str, list[str]]:
    """A ValidationError's messages per field, in the expert's language."""
    return translated_messages(error.errors)


def translated_messages(errors: Mapping[str, list[Any]]) -> dict[str, list[str]]:
    """Messages per field, in the expert's language."""
    return {key: [render_message(m) for m in messages] for key, messages in errors.items()}


class ConsentForm(FlaskForm):
    """Agreeing to take part, and the language to answer in."""

    agree = BooleanField()
    language = HiddenField()


class SuggestionForm(FlaskForm):
    """Round 1: suggest a development the study is missing."""

    suggestion = TextAreaField(validators=[Optional(), Length(max=2000)])


class SimpleForm(FlaskForm):
    """A form with only the CSRF token (buttons that post)."""


@bp.before_request
def _load_expert() -> None:
    """Resolve the expert before the locale is chosen, so pages speak their language."""
    current_participation()


def _me() -> Participation:
    """The expert of this request (behind expert_required)."""
    participation = current_participation()
    if participation is None:  # expert_required runs first; this guards misuse
        abort(401)
    return participation


@dataclass
class ItemView:
    """One item of the round form, with its fields, feedback and notes."""

    round_item: RoundItem
    questions: list[Any]
    feedback: ItemFeedback | None
    changed_note: dict[str, str] | None
    is_new: bool
    reason_needed: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def item(self) -> Item:
        """The item."""
        return self.round_item.item


def _item_views(
    form: RoundForm,
    round_: Round,
    feedback: Mapping[str, ItemFeedback],
    errors: Mapping[str, Mapping[str, list[str]]] | None = None,
    reason_needed: set[int] | None = None,
) -> list[ItemView]:
    """The view models of the round's items, in order."""
    views = []
    new_items = {item.id for item in round_service.new_items_in(round_)}
    for round_item in round_.items:
        version = round_item.version
        item_errors = dict((errors or {}).get(round_item.item.key, {}))
        questions = []
        for question in round_item.item.questions_in(round_.number):
            fields = question_fields(form, question)
            fields.errors = list(item_errors.get(question.key, []))
            questions.append(fields)
        changed = (
            dict(version.change_note)
            if version.number > 1 and version.introduced_in_round == round_.number
            else None
        )
        views.append(
            ItemView(
                round_item=round_item,
                questions=questions,
                feedback=feedback.get(round_item.item.key),
                changed_note=changed,
                is_new=round_item.item.id in new_items,
                reason_needed=round_item.item.id in (reason_needed or set()),
                errors=item_errors,
            )
        )
    return views


def _progress(participation: Participation, round_: Round) -> RoundProgress | None:
    """The expert's progress row for a round."""
    return db.session.get(RoundProgress, (participation.id, round_.id))


def _answered_items(participation: Participation, round_: Round) -> int:
    """How many of the round's items have every required answer."""
    return answer_service.answered_item_count(db.session, participation, round_)


@bp.get("/")
@expert_required
def home() -> Any:
    """Where the expert stands: consent, the open round, feedback from the last one."""
    me = _me()
    study = me.study
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    open_round = round_service.open_round_of(db.session, study)
    rounds = round_service.rounds_of(db.session, study)
    closed = [r for r in rounds if r.state == "closed"]
    progress = _progress(me, open_round) if open_round else None
    answered = _answered_items(me, open_round) if open_round else 0
    return render_template(
        "expert/home.html",
        study=study,
        me=me,
        open_round=open_round,
        progress=progress,
        answered=answered,
        last_closed=closed[-1] if closed else None,
        form=SimpleForm(),
    )


@bp.route("/consent", methods=["GET", "POST"])
@expert_required
@atomic
def consent() -> Any:
    """Welcome, what is collected and how it is used; the expert agrees and picks a language."""
    me = _me()
    form = ConsentForm()
    error = None
    if form.validate_on_submit():
        if form.agree.data:
            panel.record_consent(db.session, me, language=me.language, now=utcnow())
            return redirect(url_for("expert.home"), code=303)
        error = _("Tick the box to agree, or close this page if you do not wish to take part.")
    return render_template("expert/consent.html", study=me.study, form=form, error=error), (
        422 if error else 200
    )


@bp.post("/language")
@expert_required
@atomic
def language() -> Any:
    """Switch the language the questionnaire is shown in (answers do not depend on it)."""
    me = _me()
    code = request.form.get("language", "")
    if code in me.study.languages:
        panel.set_language(db.session, me, code)
        session["language"] = code
    target = request.form.get("next", "")
    if not target.startswith("/e/"):
        target = url_for("expert.home")
    return redirect(target, code=303)


@bp.post("/logout")
@expert_required
@atomic
def logout() -> Any:
    """Sign out on this device (the personal link signs in again)."""
    token = session.pop(EXPERT_SESSION_KEY, None)
    if token:
        panel.end_expert_session(db.session, token, utcnow())
    flash(_("You are signed out on this device. Your answers are kept."), "success")
    return redirect(url_for("public.link_needed"), code=303)


def _open_round_or_none(study: Study) -> Round | None:
    """The study's open round, if any."""
    return round_service.open_round_of(db.session, study)


def _render_round(
    round_: Round,
    form: RoundForm,
    *,
    errors: Mapping[str, Mapping[str, list[str]]] | None = None,
    summary: list[tuple[str, str]] | None = None,
    reason_needed: set[int] | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Any:
    """Render the round form page."""
    me = _me()
    feedback = feedback_service.feedback_for(db.session, me, round_, feedback_views())
    items = _item_views(form, round_, feedback, errors, reason_needed)
    previous = previous_closed_round(db.session, round_)
    return (
        render_template(
            "expert/round.html",
            study=me.study,
            me=me,
            round=round_,
            previous=previous,
            form=form,
            items=items,
            summary=summary or [],
            progress=_progress(me, round_),
            answered=_answered_items(me, round_),
            suggestion_form=SuggestionForm(),
            part_label=part_label,
            notice=notice,
        ),
        status,
    )


@bp.get("/round")
@expert_required
def round_form() -> Any:
    """The open round's questionnaire, filled with the expert's saved answers."""
    me = _me()
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    round_ = _open_round_or_none(me.study)
    if round_ is None:
        flash(_("No round is open at the moment."), "info")
        return redirect(url_for("expert.home"))
    saved = answer_service.current_answers(db.session, me, round_)
    form = build_round_form(round_.items, round_.number, answers=saved)
    return _render_round(round_, form)


def _save_items(
    me: Participation, round_: Round, form: RoundForm, items: list[RoundItem], key: str | None
) -> dict[str, dict[str, list[str]]]:
    """Save every item from the posted form; returns errors by item key (valid items are saved)."""
    entries = [
        answer_service.ItemEntry(
            round_item.item,
            {q.key: payload_for(form, q) for q in round_item.item.questions_in(round_.number)},
            f"{key}:{round_item.item_id}" if key else None,
        )
        for round_item in items
    ]
    saved = answer_service.save_items(db.session, me, round_, entries, now=utcnow())
    return {item_key: translated_messages(errs) for item_key, errs in saved.errors.items()}


def _summary(
    items: list[ItemView], errors: Mapping[str, Mapping[str, list[str]]]
) -> list[tuple[str, str]]:
    """Error summary lines (anchor, message) linking to the fields at fault."""
    lines: list[tuple[str, str]] = []
    for view in items:
        for question in view.questions:
            for message in errors.get(view.item.key, {}).get(question.question.key, []):
                lines.append((question.first_id, f"{view.item.key}: {message}"))
    return lines


@bp.post("/round")
@expert_required
@atomic
def round_post() -> Any:
    """Save every item (no-JavaScript path), and submit when asked."""
    me = _me()
    round_ = _open_round_or_none(me.study)
    form = build_round_form(
        round_.items if round_ else [], round_.number if round_ else 1, formdata=request.form
    )
    if round_ is None:
        return _closed_page(me.study)
    key = request.form.get("idempotency_key") or None
    try:
        errors = _save_items(me, round_, form, list(round_.items), key)
    except RoundClosedError:
        return _closed_page(me.study)
    except ConflictError:
        errors = {}
    submitting = request.form.get("action") == "submit"
    if errors:
        db.session.commit()  # keep the valid items; the request owns this transaction
        items = _item_views(form, round_, {}, errors)
        message = _("Some answers need attention; the others are saved.")
        return _render_round(
            round_, form, errors=errors, summary=_summary(items, errors), status=422, notice=message
        )
    if not submitting:
        flash(
            _("Your answers are saved. You can come back any time before the round closes."),
            "success",
        )
        return redirect(url_for("expert.round_form") + "#main", code=303)
    feedback = feedback_service.feedback_for(db.session, me, round_, feedback_views())
    flagged = (
        feedback_service.outside_iqr(db.session, me, round_, feedback)
        if me.study.reason_outside_iqr
        else {}
    )
    try:
        answer_service.submit_round(db.session, me, round_, now=utcnow(), outside_iqr=flagged)
    except ValidationError as error:
        db.session.commit()  # the answers themselves are saved
        missing = _missing_messages(round_, error.errors)
        items = _item_views(form, round_, feedback, missing, set(flagged))
        return _render_round(
            round_,
            form,
            errors=missing,
            summary=_summary(items, missing),
            reason_needed=set(flagged),
            status=422,
            notice=_("Your answers are saved, but the round is not submitted yet."),
        )
    flash(
        _(
            "Thank you: your answers are submitted. You can still change them until the round closes."
        ),
        "success",
    )
    return redirect(url_for("expert.home"), code=303)


def _missing_messages(
    round_: Round, problems: Mapping[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    """Turn submit problems (item key -> question keys) into messages per question."""
    messages: dict[str, dict[str, list[str]]] = {}
    for item_key, questions in problems.items():
        for entry in questions:
            key, _sep, flag = entry.partition(":")
            text = (
                _("Your answer is outside the panel's middle range; please say why.")
                if flag == "outside_iqr"
                else _("This answer is missing.")
            )
            messages.setdefault(item_key, {}).setdefault(key, []).append(text)
    return messages


def _closed_page(study: Study) -> Any:
    """The round closed before these answers arrived: show back what was typed, labelled."""
    questions = {q.id: (item, q) for item in study.items for q in item.questions}
    typed: list[tuple[str, str]] = []
    for name, value in request.form.items(multi=True):
        match = re.fullmatch(r"q(\d+)(?:_(.+))?", name)
        if not match or not value.strip():
            continue
        found = questions.get(int(match.group(1)))
        if found is None:
            continue
        item, question = found
        part = (match.group(2) or "").replace("__", " | ")
        label = f"{item.key} · {translated(question.prompt)}" + (f" ({part})" if part else "")
        typed.append((label, value))
    return render_template("expert/round_closed.html", typed=typed), 409


@bp.post("/round/items/<int:item_id>")
@expert_required
@atomic
def save_item(item_id: int) -> Any:
    """Autosave one item (JSON answer). Idempotent with the Idempotency-Key header."""
    me = _me()
    round_ = _open_round_or_none(me.study)
    echo = {k: v for k, v in request.form.items() if k != "csrf_token"}
    if round_ is None:
        return problem(
            409,
            "Round closed",
            _("The round is closed; this change was not saved."),
            payload=echo,
        )
    round_item = db.session.get(RoundItem, (round_.id, item_id))
    if round_item is None:
        abort(404)
    form = build_round_form([round_item], round_.number, formdata=request.form)
    questions = round_item.item.questions_in(round_.number)
    payloads = {q.key: payload_for(form, q) for q in questions}
    key = request.headers.get("Idempotency-Key") or None
    try:
        result = answer_service.save_item(
            db.session, me, round_, round_item.item, payloads, idempotency_key=key, now=utcnow()
        )
    except RoundClosedError:
        return problem(
            409, "Round closed", _("The round is closed; this change was not saved."), payload=echo
        )
    except ConflictError as error:
        return problem(409, "Conflict", str(error), payload=echo)
    except ValidationError as error:
        return problem(
            422,
            "Invalid answer",
            _("Not saved: please check this item."),
            errors=translated_errors(error),
            payload=echo,
        )
    except StateError as error:
        return problem(409, "Not allowed", str(error), payload=echo)
    saved_at = utcnow()
    answered, total = answer_service.item_progress(db.session, me, round_)
    return jsonify(
        saved=True,
        replay=result.replay,
        item=round_item.item.key,
        saved_at=saved_at.isoformat(),
        answered=answered,
        total=total,
    )


@bp.post("/suggestions")
@expert_required
@atomic
def suggest() -> Any:
    """Round 1: record a suggested development (not linked to the expert)."""
    me = _me()
    round_ = _open_round_or_none(me.study)
    form = SuggestionForm()
    if round_ is None:
        abort(409)
    if form.validate_on_submit():
        try:
            answer_service.add_suggestion(
                db.session, me, round_, form.suggestion.data or "", now=utcnow()
            )
        except ValidationError as error:
            flash(str(error), "error")
            return redirect(url_for("expert.round_form") + "#suggest", code=303)
        flash(
            _("Thank you: your suggestion goes to the facilitators, without your name."), "success"
        )
    return redirect(url_for("expert.round_form") + "#suggest", code=303)


@bp.get("/feedback/<int:number>")
@expert_required
def feedback(number: int) -> Any:
    """The panel's feedback of a closed round, with the expert's own answers."""
    me = _me()
    round_ = round_service.round_for(db.session, me.study, number)
    if round_.state != "closed":
        abort(404)
    data = feedback_service.feedback_of_round(db.session, me, round_, feedback_views())
    return render_template(
        "expert/feedback.html", study=me.study, round=round_, feedback=data, part_label=part_label
    )


@bp.get("/report")
@expert_required
def report() -> Any:
    """The expert's own answers against the panel's, every closed round (a printable page)."""
    me = _me()
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    closed = [r for r in round_service.rounds_of(db.session, me.study) if r.state == "closed"]
    rounds = [
        (r, feedback_service.feedback_of_round(db.session, me, r, feedback_views())) for r in closed
    ]
    return render_template(
        "expert/report.html", study=me.study, me=me, rounds=rounds, part_label=part_label
    )


@bp.errorhandler(CSRFError)
def csrf_failure_on_expert_pages(error: CSRFError) -> Any:
    """A stale CSRF token on the round form shows the form again with every typed value;
    elsewhere the usual 'please try again' page."""
    db.session.rollback()
    rerendered = rerender_after_csrf_failure()
    return rerendered if rerendered is not None else csrf_failure()


def rerender_after_csrf_failure() -> Response | None:
    """After a CSRF failure on the round form, show the form again with every typed value."""
    if request.endpoint != "expert.round_post" or current_participation() is None:
        return None
    me = cast(Participation, g.participation)
    round_ = _open_round_or_none(me.study)
    if round_ is None:
        return None
    form = build_round_form(round_.items, round_.number, formdata=request.form)
    body, _status = _render_round(
        round_,
        form,
        status=400,
        notice=_(
            "Your session changed, so these answers were not saved yet. They are all still "
            "here: press Save again."
        ),
    )
    response = current_app.make_response((body, 400))
    return response
