"""The expert's side around the round: home, consent, language, feedback of closed rounds,
the personal report and suggestions. The round's own pages live in `app/expert/round.py`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import Length, Optional

from app.auth import EXPERT_SESSION_KEY, current_participation, expert_required
from app.database import atomic
from app.expert.round_form import ShownAnswer
from app.expert.views import EventLabel, QuestionView, event_labels, part_label, question_view
from app.extensions import db, feedback_views
from app.i18n import render_message, text_direction
from app.models import (
    Participation,
    Question,
    RoundProgress,
    RoundState,
    Study,
    StudyStatus,
    ValidationError,
    utcnow,
)
from app.services import answers as answer_service
from app.services import feedback as feedback_service
from app.services import panel, round_progress
from app.services import rounds as round_service
from app.services.feedback import ItemFeedback
from app.templating import current_language, translated

bp = Blueprint("expert", __name__, url_prefix="/e")


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


def current_expert() -> Participation:
    """The expert of this request (behind expert_required)."""
    participation = current_participation()
    if participation is None:  # expert_required runs first; this guards misuse
        abort(401)
    return participation


@bp.get("/")
@expert_required
def home() -> Any:
    """Where the expert stands: consent, the open round, feedback from the last one."""
    me = current_expert()
    study = me.study
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    rounds = round_service.rounds_of(db.session, study)
    open_round = next((r for r in rounds if r.state == RoundState.OPEN), None)
    closed = [r for r in rounds if r.state == RoundState.CLOSED]
    progress = (
        db.session.get(RoundProgress, (me.id, open_round.id)) if open_round is not None else None
    )
    answered, total = (
        round_progress.item_progress(db.session, me, open_round) if open_round else (0, 0)
    )
    # the study is over for the expert: finished, or its last allowed round has closed
    ended = study.status == StudyStatus.FINISHED or (
        open_round is None and len(closed) >= study.round_limit
    )
    return render_template(
        "expert/home.html",
        study=study,
        me=me,
        open_round=open_round,
        progress=progress,
        answered=answered,
        total=total,
        last_closed=closed[-1] if closed else None,
        ended=ended,
        form=SimpleForm(),
    )


@bp.route("/consent", methods=["GET", "POST"])
@expert_required
@atomic
def consent() -> Any:
    """Welcome, what is collected and how it is used; the expert agrees and picks a language."""
    me = current_expert()
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
    me = current_expert()
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


@bp.post("/suggestions")
@expert_required
@atomic
def suggest() -> Any:
    """Round 1: record a suggested development (not linked to the expert)."""
    me = current_expert()
    round_ = round_service.open_round_of(db.session, me.study)
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
            return redirect(url_for("expert.round_overview") + "#suggest", code=303)
        flash(
            _("Thank you: your suggestion goes to the facilitators, without your name."), "success"
        )
    return redirect(url_for("expert.round_overview") + "#suggest", code=303)


@bp.get("/feedback/<int:number>")
@expert_required
def feedback(number: int) -> Any:
    """The panel's feedback of a closed round, with the expert's own answers."""
    me = current_expert()
    round_ = round_service.round_for(db.session, me.study, number)
    if round_.state != "closed":
        abort(404)
    data = feedback_service.feedback_of_round(db.session, me, round_, feedback_views())
    events = event_labels(round_.items)
    rtl = text_direction(current_language()) == "rtl"
    items = [
        ClosedItem(
            translated(round_item.version.title),
            data[round_item.item.key],
            [
                question_view(
                    question,
                    horizon=me.study.horizon,
                    shown=ShownAnswer({}, ""),
                    feedback=data[round_item.item.key],
                    given=None,
                    events=events,
                    rtl=rtl,
                )
                for question in round_item.item.questions_in(round_.number)
            ],
        )
        for round_item in round_.items
        if round_item.item.key in data
    ]
    return render_template("expert/feedback.html", study=me.study, round=round_, items=items)


@dataclass(frozen=True)
class ClosedItem:
    """An item of a closed round's results page: its title, feedback and questions."""

    title: str
    feedback: ItemFeedback
    questions: list[QuestionView]


@bp.get("/report")
@expert_required
def report() -> Any:
    """The expert's own answers against the panel's, every closed round (a printable page)."""
    me = current_expert()
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    closed = [r for r in round_service.rounds_of(db.session, me.study) if r.state == "closed"]
    rounds = [
        (r, feedback_service.feedback_of_round(db.session, me, r, feedback_views())) for r in closed
    ]
    events = {key: label for r in closed for key, label in event_labels(r.items).items()}
    return render_template(
        "expert/report.html",
        study=me.study,
        me=me,
        rounds=rounds,
        part_label=_labeller(events),
    )


def _labeller(events: Mapping[str, EventLabel]) -> Callable[[Question, str], str]:
    """part_label with the developments' titles of these rounds (for the templates)."""
    return lambda question, part: part_label(question, part, events)


def closed_page(study: Study) -> Any:
    """The round closed before these answers arrived: show back what was typed, labelled."""
    questions = {q.id: (item, q) for item in study.items for q in item.questions}
    typed: list[tuple[str, str]] = []
    for name, value in request.form.items(multi=True):
        match = re.fullmatch(r"q(\d+)(?:_(.+))?", name)
        if not match or not value.strip() or match.group(2) == "na":
            continue
        found = questions.get(int(match.group(1)))
        if found is None:
            continue
        item, question = found
        label = f"{translated(item.current_version.title)} · {translated(question.prompt)}"
        typed.append((label.replace("{horizon}", str(study.horizon)), value))
    return render_template("expert/round_closed.html", typed=typed), 409
