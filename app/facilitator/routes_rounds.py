"""Facilitator pages for rounds: preparing, opening, the deadline, closing, finishing the study."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, render_template, request
from flask_babel import gettext as _

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import (
    flash_and_redirect,
    flash_domain_errors,
    member_study,
    owned_study,
    redirect_to,
    summary_of,
)
from app.facilitator.forms import (
    CloseRoundForm,
    DeadlineForm,
    RoundForm,
    RoundLimitForm,
    SimpleForm,
    fields_of,
    texts_from,
    utc,
    with_language_fields,
)
from app.models import ItemStatus, Round, RoundState, Study, utcnow
from app.services import between_rounds, burden, dashboard, report_files
from app.services import rounds as round_service
from app.services import studies as study_service


def _round_form(study: Study) -> RoundForm:
    """The prepare-the-next-round form with a message field per language."""
    return with_language_fields(
        RoundForm, study.languages, [("message", _("Message to experts"), True)]
    )


def _next_round_block(study: Study, rounds: list[Round]) -> str | None:
    """Why the next round cannot be prepared now, or None if it can."""
    if study.status == "finished":
        return _("The study is finished.")
    if rounds and rounds[-1].state == RoundState.DRAFT:
        return _("Round %(n)s is prepared but not open yet; open it first.", n=rounds[-1].number)
    if rounds and rounds[-1].state != RoundState.CLOSED:
        return _(
            "Round %(n)s is open; close it before preparing the next one.", n=rounds[-1].number
        )
    if len(rounds) >= study.round_limit:
        return _(
            "The study allows %(n)s rounds (its pre-registered limit); all have been held.",
            n=study.round_limit,
        )
    return None


@bp.get("/studies/<int:study_id>/rounds")
@facilitator_required
def rounds(study_id: int) -> Any:
    """The rounds with their states and actions; preparing the next round."""
    found = member_study(study_id)
    all_rounds = round_service.rounds_of(db.session, found)
    form = _round_form(found)
    capped = found.conditional_pairs_per_expert is not None
    return render_template(
        "facilitator/rounds.html",
        pair_coverage=burden.pair_coverage(db.session, found) if capped else None,
        study=found,
        rounds=all_rounds,
        funnel={f.number: f for f in dashboard.funnel(db.session, found).rounds},
        form=form,
        message_fields=fields_of(form, "message", found.languages),
        blocked=_next_round_block(found, all_rounds),
        limit_reached=between_rounds.held_all_rounds(found, all_rounds),
        limit_form=RoundLimitForm(formdata=None, limit=found.round_limit + 1),
        deadline_form=DeadlineForm(formdata=None),
        action_form=SimpleForm(),
        active_items=sum(1 for i in found.items if i.status == ItemStatus.ACTIVE),
        may_finish=study_service.may_manage(db.session, found, facilitator()),
        nav="rounds",
    )


@bp.post("/studies/<int:study_id>/rounds/limit")
@facilitator_required
@atomic
def raise_round_limit(study_id: int) -> Any:
    """Allow more rounds than the survey pre-registered (owners only; audited with the reason)."""
    found = owned_study(study_id)
    form = RoundLimitForm()
    if not form.validate_on_submit():
        return flash_and_redirect(
            _("Enter the new limit and say why more rounds are needed; nothing was changed."),
            "rounds",
            found,
            "error",
        )
    with flash_domain_errors():
        between_rounds.raise_round_limit(
            db.session,
            found,
            form.limit.data or 0,
            reason=form.reason.data or "",
            actor=facilitator(),
            now=utcnow(),
        )
        flash(
            _(
                "The study now allows %(n)s rounds; the change is in the audit log.",
                n=found.round_limit,
            ),
            "success",
        )
    return redirect_to("rounds", found)


@bp.post("/studies/<int:study_id>/rounds/new")
@facilitator_required
@atomic
def create_round(study_id: int) -> Any:
    """Prepare the next round as a draft, with an optional message per language."""
    found = member_study(study_id)
    form = _round_form(found)
    if form.validate_on_submit():
        with flash_domain_errors():
            created = round_service.create_round(
                db.session,
                found,
                actor=facilitator(),
                now=utcnow(),
                message=texts_from(form, "message", found.languages),
            )
            flash(
                _("Round %(n)s is prepared. Check the items, then open it.", n=created.number),
                "success",
            )
    else:
        flash(_("The messages are too long."), "error")
    return redirect_to("rounds", found)


def _deadline_from(form: DeadlineForm) -> tuple[bool, Any]:
    """(ok, deadline in UTC or None) from a deadline form; flashes when the input is bad."""
    if not form.validate_on_submit():
        flash(_("Enter the deadline as a date and time (UTC), or leave it empty."), "error")
        return False, None
    return True, utc(form.deadline.data)


@bp.post("/studies/<int:study_id>/rounds/<int:number>/open")
@facilitator_required
@atomic
def open_round(study_id: int, number: int) -> Any:
    """Open a draft round (optionally with a deadline) with the active items as worded now."""
    found = member_study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    ok, deadline = _deadline_from(DeadlineForm())
    if ok:
        with flash_domain_errors():
            round_service.open_round(
                db.session, round_, actor=facilitator(), now=utcnow(), deadline=deadline
            )
            flash(
                _("Round %(n)s is open. Send invitations or reminders so experts know.", n=number),
                "success",
            )
    return redirect_to("rounds", found)


@bp.post("/studies/<int:study_id>/rounds/<int:number>/deadline")
@facilitator_required
@atomic
def set_deadline(study_id: int, number: int) -> Any:
    """Change (or remove) the deadline experts see."""
    found = member_study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    ok, deadline = _deadline_from(DeadlineForm())
    if ok:
        with flash_domain_errors():
            round_service.set_deadline(
                db.session, round_, deadline, actor=facilitator(), now=utcnow()
            )
            flash(_("The deadline of round %(n)s is changed.", n=number), "success")
    return redirect_to("rounds", found)


@bp.route("/studies/<int:study_id>/rounds/<int:number>/close", methods=["GET", "POST"])
@facilitator_required
@atomic
def close_round(study_id: int, number: int) -> Any:
    """Confirm, then close an open round: its snapshot is frozen, answers can no longer change.

    The page says which items and groups the snapshot would withhold under k and offers a later
    deadline instead; a close under k needs the round number typed.
    """
    found = member_study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    form = CloseRoundForm()
    is_open = round_.state == RoundState.OPEN
    preview = between_rounds.close_preview(db.session, round_) if is_open else None
    if form.validate_on_submit():
        typed = between_rounds.confirms_close(form.confirm.data or "", round_)
        if preview is not None and preview.needs_confirmation and not typed:
            form.confirm.errors = [
                _(
                    "Type %(n)s to close round %(n)s although figures will be withheld.",
                    n=number,
                )
            ]
        else:
            with flash_domain_errors():
                snapshot = round_service.close_round(
                    db.session, round_, actor=facilitator(), now=utcnow()
                )
                if current_app.config["BUILD_REPORTS_ON_CLOSE"]:  # built after the close commits
                    report_files.request_builds_after_close(db.session, found, snapshot, utcnow())
                return flash_and_redirect(
                    _(
                        "Round %(n)s is closed; its snapshot holds %(answers)s answers.",
                        n=number,
                        answers=snapshot.answer_count,
                    ),
                    "items",
                    found,
                )
            return redirect_to("rounds", found)
    funnel = next(
        (f for f in dashboard.funnel(db.session, found).rounds if f.number == number), None
    )
    return render_template(
        "facilitator/close_round.html",
        study=found,
        round=round_,
        funnel=funnel,
        preview=preview,
        form=form,
        deadline_form=DeadlineForm(formdata=None),
        summary=summary_of(form),
        nav="rounds",
    ), (422 if form.confirm.errors else 200)


@bp.post("/studies/<int:study_id>/finish")
@facilitator_required
@atomic
def finish_study(study_id: int) -> Any:
    """End the study once its last round is closed (owners only; asks for a confirmation)."""
    found = owned_study(study_id)
    form = SimpleForm()
    if not form.validate_on_submit() or request.form.get("confirm") != "yes":
        return flash_and_redirect(
            _("Tick the box to confirm that the study ends; nothing was changed."),
            "rounds",
            found,
            "error",
        )
    with flash_domain_errors():
        round_service.finish_study(db.session, found, actor=facilitator(), now=utcnow())
        flash(_("The study is finished; its results are final."), "success")
    return redirect_to("rounds", found)
