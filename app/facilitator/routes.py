"""The facilitators' side: studies, panel, invitations, rounds, items, audit log, team.

Every route below a study loads it through `studies.study_for` (404 for anyone who is not a
member), and every object inside it through a service that checks it belongs to that study.
Views parse, call a service, commit once (`@atomic`) and redirect; private links are shown
once, in the response to the POST that created them, and never stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from app.auth import admin_required, facilitator, facilitator_required
from app.database import atomic
from app.definitions import DefinitionError, load_definition, parse_definition
from app.emails import render_in
from app.extensions import db
from app.facilitator.forms import (
    AcceptSuggestionForm,
    AccountForm,
    DeadlineForm,
    ExpertForm,
    ImportForm,
    InvitationsForm,
    MemberForm,
    MemberRoleForm,
    MergeForm,
    NewStudyForm,
    RetireForm,
    RewordForm,
    RoundForm,
    SimpleForm,
    fields_of,
    texts_from,
    utc,
    with_language_fields,
)
from app.jobs.mail import send_after_commit
from app.jobs.runner import run_after_commit
from app.messages import render, render_error
from app.models import (
    DomainError,
    ItemStatus,
    MemberRole,
    NotFoundError,
    Participation,
    ParticipationStatus,
    Role,
    Round,
    RoundState,
    Study,
    ValidationError,
    utcnow,
)
from app.services import accounts as account_service
from app.services import audit, burden, dashboard, invitations, item_notes, outbox, report_files
from app.services import panel as panel_service
from app.services import rounds as round_service
from app.services import studies as study_service
from app.services.invitations import MailContext, MailKind, QueueSummary, private_link
from app.templating import LANGUAGE_NAMES, current_language

bp = Blueprint("facilitator", __name__, url_prefix="/f")


def _study(study_id: int) -> Study:
    """The study if the logged-in facilitator may act on it (NotFoundError, hence 404, if not)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def _language() -> str:
    """The language facilitator pages show study texts in."""
    return current_language()


@contextmanager
def _flash_domain_errors() -> Iterator[None]:
    """Turn a broken rule into an error message (the transaction is rolled back); 404 stays 404."""
    try:
        yield
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(render_error(error, _), "error")


def _errors_into(
    form: Any, error: ValidationError, names: dict[str, str] | None = None
) -> list[str]:
    """Attach a ValidationError's messages to the form's fields; return those with no field."""
    loose: list[str] = []
    for name, messages in error.errors.items():
        texts = [render(message, _) for message in messages]
        field = getattr(form, (names or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + texts
        else:
            loose.extend(f"{name}: {text}" for text in texts)
    return loose


def _summary_of(form: Any) -> list[tuple[str, str]]:
    """Error summary lines (field id, message) for a form."""
    return [
        (field.id, f"{field.label.text}: {message}")
        for field in form
        for message in field.errors
        if field.name != "csrf_token"
    ]


# --- studies -------------------------------------------------------------------------------


@bp.get("/")
@facilitator_required
def studies() -> Any:
    """The studies this facilitator may run, with rounds, panel size and response."""
    rows = dashboard.overview(db.session, study_service.studies_for(db.session, facilitator()))
    return render_template("facilitator/studies.html", rows=rows)


def _library_dir() -> Path:
    """The folder of survey files offered for import."""
    configured = current_app.config.get("SURVEYS_DIR")
    return Path(configured) if configured else Path(current_app.root_path).parent / "surveys"


def _library() -> list[str]:
    """File names of the survey files in the library."""
    folder = _library_dir()
    return sorted(p.name for p in folder.glob("*.toml") if p.is_file()) if folder.is_dir() else []


@bp.route("/studies/new", methods=["GET", "POST"])
@facilitator_required
@atomic
def new_study() -> Any:
    """Create a study from an uploaded survey file or a file of the library (all or nothing)."""
    form = NewStudyForm()
    library = _library()
    form.library.choices = [SelectChoice("", _("Choose a file"))] + [
        SelectChoice(name, name) for name in library
    ]
    problems: list[str] = []
    if form.validate_on_submit():
        upload: FileStorage | None = (
            form.file.data if isinstance(form.file.data, FileStorage) else None
        )
        chosen = form.library.data or ""
        try:
            if upload is not None and upload.filename:
                definition = parse_definition(upload.read(), upload.filename)
            elif chosen in library:
                definition = load_definition(_library_dir() / chosen)
            else:
                definition = None
                problems.append(_("Choose a survey file to upload, or one from the library."))
            if definition is not None:
                created = study_service.import_study(
                    db.session, definition, actor=facilitator(), now=utcnow()
                )
                flash(
                    _(
                        "The study is created with %(n)s items. Next: add the panel.",
                        n=len(created.items),
                    ),
                    "success",
                )
                return redirect(url_for("facilitator.study", study_id=created.id), code=303)
        except DefinitionError as error:
            problems.extend(str(problem) for problem in error.problems)
        except ValidationError as error:
            db.session.rollback()
            problems.append(str(error))
    elif form.is_submitted():
        problems.extend(message for field in form for message in field.errors)
    return render_template(
        "facilitator/new_study.html",
        form=form,
        problems=problems,
        max_bytes=current_app.config.get("MAX_CONTENT_LENGTH"),
    ), (422 if problems else 200)


@bp.get("/studies/<int:study_id>")
@facilitator_required
def study(study_id: int) -> Any:
    """A study's dashboard: where the rounds stand, the response funnel, quick actions."""
    found = _study(study_id)
    open_round = round_service.open_round_of(db.session, found)
    latest = round_service.latest_round(db.session, found)
    funnel = dashboard.funnel(db.session, found)
    pending = dashboard.pending_count(db.session, found, open_round) if open_round else 0
    return render_template(
        "facilitator/study.html",
        study=found,
        funnel=funnel,
        open_round=open_round,
        latest=latest,
        pending=pending,
        form=SimpleForm(),
        mailing=dashboard.email_and_schedule(db.session, found, now=utcnow()),
        nav="study",
    )


# --- panel ---------------------------------------------------------------------------------


@bp.get("/studies/<int:study_id>/panel")
@facilitator_required
def panel(study_id: int) -> Any:
    """The panel: identities, groups, status, invitations, link state and progress."""
    found = _study(study_id)
    open_round = round_service.open_round_of(db.session, found)
    rows = dashboard.panel_rows(db.session, found, open_round)
    by_group = (
        dashboard.submitted_by_group(db.session, found, open_round)
        if open_round is not None and found.is_anonymous
        else []
    )
    return render_template(
        "facilitator/panel.html",
        study=found,
        rows=rows,
        by_group=by_group,
        open_round=open_round,
        form=SimpleForm(),
        nav="panel",
    )


def _expert_form(study: Study) -> ExpertForm:
    """The add-an-expert form with the study's languages."""
    form = ExpertForm()
    form.language.choices = _language_choices(study)
    if not form.is_submitted():
        form.language.data = study.default_language
    return form


def _language_choices(study: Study) -> list[SelectChoice]:
    """The study's languages as choices, by their own names."""
    return [SelectChoice(code, LANGUAGE_NAMES.get(code, code)) for code in study.languages]


def _link(token: str, language: str | None = None) -> str:
    """The full private link for a token (landing in the expert's panel language)."""
    return private_link(current_app.config["PUBLIC_BASE_URL"], token, language)


@bp.route("/studies/<int:study_id>/panel/add", methods=["GET", "POST"])
@facilitator_required
@atomic
def add_expert(study_id: int) -> Any:
    """Add one expert; on success show their private link once."""
    found = _study(study_id)
    form = _expert_form(found)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            member = panel_service.add_expert(
                db.session,
                found,
                name=form.name.data or "",
                email=form.email.data or "",
                group=form.group.data or "",
                language=form.language.data or "",
                actor=facilitator(),
                now=utcnow(),
            )
        except ValidationError as error:
            db.session.rollback()
            loose = _errors_into(form, error)
        else:
            return render_template(
                "facilitator/add_expert.html",
                study=found,
                form=_blank_expert_form(found),
                created=member.participation,
                link=_link(member.token, member.participation.language),
                invite_form=SimpleForm(),
                nav="panel",
            )
    summary = _summary_of(form) + [("name", message) for message in loose]
    return render_template(
        "facilitator/add_expert.html",
        study=found,
        form=form,
        summary=summary,
        created=None,
        nav="panel",
    ), (422 if summary else 200)


def _blank_expert_form(study: Study) -> ExpertForm:
    """An empty add-an-expert form (after one was added)."""
    form = ExpertForm(formdata=None)
    form.language.choices = _language_choices(study)
    form.language.data = study.default_language
    return form


@bp.route("/studies/<int:study_id>/panel/import", methods=["GET", "POST"])
@facilitator_required
@atomic
def import_panel(study_id: int) -> Any:
    """Add experts from a CSV file, all rows or none; then email them, or show their links once."""
    found = _study(study_id)
    form = ImportForm()
    problems: list[str] = []
    if form.validate_on_submit():
        upload = form.file.data if isinstance(form.file.data, FileStorage) else None
        if upload is None or not upload.filename:
            problems.append(_("Choose a CSV file."))
        elif (
            panel_service.csv_rows(data := upload.read())
            > current_app.config["PANEL_IMPORT_JOB_ROWS"]
        ):
            # a large file is imported by a job with progress; its page lists the outcome
            job = panel_service.request_import(
                db.session,
                found,
                data,
                actor=facilitator(),
                now=utcnow(),
                send_now=bool(form.send_now.data),
            )
            run_after_commit(db.session, job)
            return redirect(url_for("builds.job", study_id=found.id, job_id=job.id), code=303)
        else:
            try:
                result = panel_service.import_csv(
                    db.session, found, data, actor=facilitator(), now=utcnow()
                )
            except ValidationError as error:
                db.session.rollback()
                problems.append(str(error))
                for messages in error.errors.values():
                    problems.extend(messages)
            else:
                if form.send_now.data and result.added:
                    summary = _invite(found, [m.participation for m in result.added])
                    _flash_import(len(result.added), result.skipped)
                    _flash_summary(summary)
                    return redirect(url_for("facilitator.panel", study_id=found.id), code=303)
                _flash_import(len(result.added), result.skipped)
                return render_template(
                    "facilitator/import_panel.html",
                    study=found,
                    form=ImportForm(formdata=None),
                    added=[
                        (m.participation, _link(m.token, m.participation.language))
                        for m in result.added
                    ],
                    problems=[],
                    nav="panel",
                )
    return render_template(
        "facilitator/import_panel.html",
        study=found,
        form=form,
        added=[],
        problems=problems,
        nav="panel",
    ), (422 if problems else 200)


def _flash_import(added: int, skipped: list[str]) -> None:
    """Say how many experts a CSV import added and skipped."""
    flash(_("%(n)s experts added to the panel.", n=added), "success")
    if skipped:
        flash(
            _(
                "%(n)s were on the panel already and were skipped: %(emails)s",
                n=len(skipped),
                emails=", ".join(skipped[:20]) + (" …" if len(skipped) > 20 else ""),
            ),
            "info",
        )


def _participation(study: Study, participation_id: int) -> Participation:
    """A member of this study's panel (NotFoundError for anyone else's)."""
    return panel_service.participation_for(db.session, study, participation_id)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/revoke")
@facilitator_required
@atomic
def revoke_links(study_id: int, participation_id: int) -> Any:
    """Revoke every private link of a panel member and end their sessions."""
    found = _study(study_id)
    member = _participation(found, participation_id)
    with _flash_domain_errors():
        count = panel_service.revoke_links(db.session, member, actor=facilitator(), now=utcnow())
        if found.is_anonymous:
            # how many links someone held counts their reminders, i.e. rounds not submitted
            flash(
                _(
                    "The links of %(p)s are revoked; their sessions are ended.",
                    p=member.name,
                ),
                "success",
            )
        else:
            flash(
                _(
                    "%(n)s links of %(p)s revoked; their sessions are ended.",
                    n=count,
                    p=member.name,
                ),
                "success",
            )
    return redirect(url_for("facilitator.panel", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/reissue")
@facilitator_required
@atomic
def reissue_link(study_id: int, participation_id: int) -> Any:
    """Revoke a member's links and show a new one, once."""
    found = _study(study_id)
    member = _participation(found, participation_id)
    try:
        token = panel_service.reissue_link(db.session, member, actor=facilitator(), now=utcnow())
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("facilitator.panel", study_id=found.id), code=303)
    return render_template(
        "facilitator/reissue_link.html",
        study=found,
        member=member,
        link=_link(token, member.language),
        nav="panel",
    )


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/withdraw")
@facilitator_required
@atomic
def withdraw(study_id: int, participation_id: int) -> Any:
    """Withdraw a member from the panel: their links stop working."""
    found = _study(study_id)
    member = _participation(found, participation_id)
    with _flash_domain_errors():
        panel_service.set_withdrawn(db.session, member, True, actor=facilitator(), now=utcnow())
        flash(_("%(p)s is withdrawn; their links no longer work.", p=member.name), "success")
    return redirect(url_for("facilitator.panel", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/reinstate")
@facilitator_required
@atomic
def reinstate(study_id: int, participation_id: int) -> Any:
    """Bring a withdrawn member back (they need a new link)."""
    found = _study(study_id)
    member = _participation(found, participation_id)
    with _flash_domain_errors():
        if member.status != ParticipationStatus.WITHDRAWN:
            flash(_("%(p)s is not withdrawn.", p=member.name), "info")
        else:
            panel_service.set_withdrawn(
                db.session, member, False, actor=facilitator(), now=utcnow()
            )
            flash(
                _(
                    "%(p)s is back on the panel. Send an invitation or a new link.",
                    p=member.name,
                ),
                "success",
            )
    return redirect(url_for("facilitator.panel", study_id=found.id), code=303)


# --- invitations and reminders -----------------------------------------------------------


def _invite(study: Study, members: list[Participation]) -> QueueSummary:
    """Queue invitations (each gets a fresh private link when it is sent) for after the commit."""
    summary = invitations.queue_invitations(
        db.session, study, members, actor=facilitator(), now=utcnow()
    )
    send_after_commit(db.session, summary.ids)
    return summary


def _flash_summary(summary: QueueSummary) -> None:
    """Report a mailing request: how many emails were queued and how many members skipped.

    Counts only: who got a reminder is who has not submitted, which the panel page does not
    tell in an anonymous study (docs/anonymity.md). The mail page shows how delivery went.
    """
    if summary.kind == MailKind.INVITATION:
        flash(_("Invitations queued: %(n)s.", n=summary.queued), "success")
    else:
        flash(_("Reminders queued: %(n)s.", n=summary.queued), "success")
    if summary.skipped_count:
        flash(
            _(
                "Skipped: %(n)s (withdrawn, submitted already, or an email still waiting to go).",
                n=summary.skipped_count,
            ),
            "info",
        )


def _preview(study: Study, kind: MailKind, round_: Round | None) -> Any:
    """An email as experts in the study's default language would get it (with a dummy link)."""
    language = study.default_language
    context = MailContext(
        kind=kind,
        name=_("(expert's name)"),
        study_title=study.text("title", language),
        link=_link("(personal-link)", language),
        round_number=round_.number if round_ else None,
        deadline=round_.deadline if round_ else None,
        message=(round_.message or {}).get(language, "") if round_ else "",
    )
    return render_in(language, context)


@bp.get("/studies/<int:study_id>/mail")
@facilitator_required
def mail(study_id: int) -> Any:
    """Invitations and reminders: who would get them, and what the email says."""
    found = _study(study_id)
    open_round = round_service.open_round_of(db.session, found)
    members = panel_service.panel(db.session, found)
    current = [m for m in members if m.status != ParticipationStatus.WITHDRAWN]
    pending = invitations.non_submitters(db.session, found, open_round) if open_round else []
    return render_template(
        "facilitator/mail.html",
        study=found,
        open_round=open_round,
        never=sum(1 for m in current if m.invited_at is None),
        everyone=len(current),
        pending=len(pending),
        form=InvitationsForm(),
        reminder_form=SimpleForm(),
        invitation=_preview(found, MailKind.INVITATION, open_round),
        reminder=_preview(found, MailKind.REMINDER, open_round) if open_round else None,
        backend=current_app.config.get("MAIL_BACKEND"),
        delivery=outbox.delivery(db.session, found),
        nav="mail",
    )


@bp.post("/studies/<int:study_id>/mail/invitations")
@facilitator_required
@atomic
def send_invitations(study_id: int) -> Any:
    """Email invitations (each with a fresh private link) to the chosen part of the panel."""
    found = _study(study_id)
    form = InvitationsForm()
    if not form.validate_on_submit():
        flash(_("Choose whom to invite."), "error")
        return redirect(url_for("facilitator.mail", study_id=found.id), code=303)
    members = [
        m
        for m in panel_service.panel(db.session, found)
        if m.status != ParticipationStatus.WITHDRAWN
    ]
    if form.audience.data == "new":
        members = [m for m in members if m.invited_at is None]
    if not members:
        flash(_("Nobody to invite: everyone on the panel has been invited already."), "info")
        return redirect(url_for("facilitator.mail", study_id=found.id), code=303)
    _flash_summary(_invite(found, members))
    return redirect(url_for("facilitator.mail", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/invite")
@facilitator_required
@atomic
def invite_one(study_id: int, participation_id: int) -> Any:
    """Email one panel member an invitation with a fresh link."""
    found = _study(study_id)
    member = _participation(found, participation_id)
    _flash_summary(_invite(found, [member]))
    return redirect(url_for("facilitator.mail", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/mail/reminders")
@facilitator_required
@atomic
def send_reminders(study_id: int) -> Any:
    """Remind everyone who has not submitted the open round."""
    found = _study(study_id)
    with _flash_domain_errors():
        summary = invitations.queue_reminders(db.session, found, actor=facilitator(), now=utcnow())
        send_after_commit(db.session, summary.ids)
        _flash_summary(summary)
    target = request.form.get("next", "")
    if target not in ("study", "mail"):
        target = "study"
    return redirect(url_for(f"facilitator.{target}", study_id=found.id), code=303)


# --- rounds --------------------------------------------------------------------------------


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
    found = _study(study_id)
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
        deadline_form=DeadlineForm(formdata=None),
        action_form=SimpleForm(),
        active_items=sum(1 for i in found.items if i.status == ItemStatus.ACTIVE),
        may_finish=study_service.may_manage(db.session, found, facilitator()),
        nav="rounds",
    )


@bp.post("/studies/<int:study_id>/rounds/new")
@facilitator_required
@atomic
def create_round(study_id: int) -> Any:
    """Prepare the next round as a draft, with an optional message per language."""
    found = _study(study_id)
    form = _round_form(found)
    if form.validate_on_submit():
        with _flash_domain_errors():
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
    return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)


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
    found = _study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    ok, deadline = _deadline_from(DeadlineForm())
    if ok:
        with _flash_domain_errors():
            round_service.open_round(
                db.session, round_, actor=facilitator(), now=utcnow(), deadline=deadline
            )
            flash(
                _("Round %(n)s is open. Send invitations or reminders so experts know.", n=number),
                "success",
            )
    return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/rounds/<int:number>/deadline")
@facilitator_required
@atomic
def set_deadline(study_id: int, number: int) -> Any:
    """Change (or remove) the deadline experts see."""
    found = _study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    ok, deadline = _deadline_from(DeadlineForm())
    if ok:
        with _flash_domain_errors():
            round_service.set_deadline(
                db.session, round_, deadline, actor=facilitator(), now=utcnow()
            )
            flash(_("The deadline of round %(n)s is changed.", n=number), "success")
    return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)


@bp.route("/studies/<int:study_id>/rounds/<int:number>/close", methods=["GET", "POST"])
@facilitator_required
@atomic
def close_round(study_id: int, number: int) -> Any:
    """Confirm, then close an open round: its snapshot is frozen, answers can no longer change."""
    found = _study(study_id)
    round_ = round_service.round_for(db.session, found, number)
    form = SimpleForm()
    if form.validate_on_submit():
        with _flash_domain_errors():
            snapshot = round_service.close_round(
                db.session, round_, actor=facilitator(), now=utcnow()
            )
            if current_app.config["BUILD_REPORTS_ON_CLOSE"]:  # built after the close commits
                report_files.request_builds_after_close(db.session, found, snapshot, utcnow())
            flash(
                _(
                    "Round %(n)s is closed; its snapshot holds %(answers)s answers.",
                    n=number,
                    answers=snapshot.answer_count,
                ),
                "success",
            )
            return redirect(url_for("facilitator.items", study_id=found.id), code=303)
        return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)
    funnel = next(
        (f for f in dashboard.funnel(db.session, found).rounds if f.number == number), None
    )
    return render_template(
        "facilitator/close_round.html",
        study=found,
        round=round_,
        funnel=funnel,
        form=form,
        nav="rounds",
    )


# --- items and suggestions -----------------------------------------------------------------


@bp.post("/studies/<int:study_id>/finish")
@facilitator_required
@atomic
def finish_study(study_id: int) -> Any:
    """End the study once its last round is closed (owners only; asks for a confirmation)."""
    found = _owned_study(study_id)
    form = SimpleForm()
    if not form.validate_on_submit() or request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm that the study ends; nothing was changed."), "error")
        return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)
    with _flash_domain_errors():
        round_service.finish_study(db.session, found, actor=facilitator(), now=utcnow())
        flash(_("The study is finished; its results are final."), "success")
    return redirect(url_for("facilitator.rounds", study_id=found.id), code=303)


@bp.get("/studies/<int:study_id>/items")
@facilitator_required
def items(study_id: int) -> Any:
    """Items with status and last round's consensus verdicts; round-1 suggestions."""
    found = _study(study_id)
    return render_template(
        "facilitator/items.html",
        study=found,
        overview=dashboard.items_overview(db.session, found),
        suggestions=dashboard.suggestions_of(db.session, found),
        notes=item_notes.translation_notes(found),
        retire_form=RetireForm(formdata=None),
        form=SimpleForm(),
        nav="items",
    )


@bp.post("/studies/<int:study_id>/items/<int:item_id>/retire")
@facilitator_required
@atomic
def retire_item(study_id: int, item_id: int) -> Any:
    """Stop asking an item from the next round on, with a reason."""
    found = _study(study_id)
    item = round_service.item_for(db.session, found, item_id)
    form = RetireForm()
    if form.validate_on_submit():
        with _flash_domain_errors():
            round_service.retire_item(
                db.session, item, reason=form.reason.data or "", actor=facilitator(), now=utcnow()
            )
            flash(
                _("Item %(key)s is retired; the next round does not ask it.", key=item.key),
                "success",
            )
    else:
        flash(_("The reason is too long."), "error")
    return redirect(url_for("facilitator.items", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/items/<int:item_id>/reinstate")
@facilitator_required
@atomic
def reinstate_item(study_id: int, item_id: int) -> Any:
    """Ask a retired item again from the next round on."""
    found = _study(study_id)
    item = round_service.item_for(db.session, found, item_id)
    with _flash_domain_errors():
        round_service.reinstate_item(db.session, item, actor=facilitator(), now=utcnow())
        flash(_("Item %(key)s is asked again from the next round.", key=item.key), "success")
    return redirect(url_for("facilitator.items", study_id=found.id), code=303)


def _texts_form(
    base: type[Any], study: Study, fields: list[tuple[str, str, bool]], **data: Any
) -> Any:
    """A form with per-language text fields."""
    return with_language_fields(base, study.languages, fields, **data)


@bp.route("/studies/<int:study_id>/items/<int:item_id>/reword", methods=["GET", "POST"])
@facilitator_required
@atomic
def reword_item(study_id: int, item_id: int) -> Any:
    """A new wording for the next round, with a note per language telling experts what changed."""
    found = _study(study_id)
    item = round_service.item_for(db.session, found, item_id)
    current = item.current_version
    defaults = {f"title_{k}": v for k, v in current.title.items()}
    defaults.update({f"text_{k}": v for k, v in current.text.items()})
    form = _texts_form(
        RewordForm,
        found,
        [
            ("title", _("Title"), False),
            ("text", _("Text"), True),
            ("note", _("What changed"), True),
        ],
        **defaults,
    )
    summary: list[tuple[str, str]] = []
    if form.validate_on_submit():
        try:
            round_service.reword_item(
                db.session,
                item,
                title=texts_from(form, "title", found.languages),
                text=texts_from(form, "text", found.languages),
                change_note=texts_from(form, "note", found.languages),
                actor=facilitator(),
                now=utcnow(),
            )
        except NotFoundError:
            raise
        except DomainError as error:
            db.session.rollback()
            summary.append((f"title_{found.default_language}", str(error)))
        else:
            flash(
                _("Item %(key)s has a new wording; experts are told what changed.", key=item.key),
                "success",
            )
            return redirect(url_for("facilitator.items", study_id=found.id), code=303)
    summary.extend(_summary_of(form))
    return render_template(
        "facilitator/reword_item.html",
        study=found,
        item=item,
        form=form,
        fields={p: fields_of(form, p, found.languages) for p in ("title", "text", "note")},
        summary=summary,
        nav="items",
    ), (422 if summary else 200)


def _merge_form(study: Study) -> Any:
    """The merge form with the study's active items as choices."""
    form = _texts_form(MergeForm, study, [("note", _("What changed"), True)])
    choices = [
        (
            i.id,
            f"{i.key}: {i.current_version.title.get(_language()) or i.current_version.title.get(study.default_language, '')}",
        )
        for i in study.items
        if i.is_active
    ]
    form.into.choices = choices
    form.merged.choices = choices
    return form


@bp.route("/studies/<int:study_id>/items/merge", methods=["GET", "POST"])
@facilitator_required
@atomic
def merge_items(study_id: int) -> Any:
    """Fold items into one; the merged ones are no longer asked and experts are told why."""
    found = _study(study_id)
    form = _merge_form(found)
    summary: list[tuple[str, str]] = []
    if form.validate_on_submit():
        try:
            into = round_service.item_for(db.session, found, form.into.data)
            merged = [round_service.item_for(db.session, found, i) for i in form.merged.data or []]
            round_service.merge_items(
                db.session,
                merged,
                into,
                change_note=texts_from(form, "note", found.languages),
                actor=facilitator(),
                now=utcnow(),
            )
        except DomainError as error:
            db.session.rollback()
            summary.append(("merged", str(error)))
        else:
            flash(
                _(
                    "Merged into %(key)s: %(keys)s.",
                    key=into.key,
                    keys=", ".join(i.key for i in merged),
                ),
                "success",
            )
            return redirect(url_for("facilitator.items", study_id=found.id), code=303)
    summary.extend(_summary_of(form))
    return render_template(
        "facilitator/merge_items.html",
        study=found,
        form=form,
        note_fields=fields_of(form, "note", found.languages),
        summary=summary,
        nav="items",
    ), (422 if summary else 200)


@bp.route("/studies/<int:study_id>/suggestions/<int:suggestion_id>/accept", methods=["GET", "POST"])
@facilitator_required
@atomic
def accept_suggestion(study_id: int, suggestion_id: int) -> Any:
    """Turn an expert's suggestion into a new item asking the same questions as an existing one."""
    found = _study(study_id)
    suggestion = round_service.suggestion_for(db.session, found, suggestion_id)
    defaults = {f"text_{suggestion.language}": suggestion.text}
    form = _texts_form(
        AcceptSuggestionForm,
        found,
        [("title", _("Title"), False), ("text", _("Text"), True)],
        **defaults,
    )
    form.like.choices = [
        SelectChoice(
            str(i.id),
            f"{i.key} ({i.kind}): {i.current_version.title.get(found.default_language, '')}",
        )
        for i in found.items
    ]
    summary: list[tuple[str, str]] = []
    if suggestion.status != "new":
        flash(_("This suggestion is %(status)s already.", status=suggestion.status), "info")
        return redirect(url_for("facilitator.items", study_id=found.id), code=303)
    if form.validate_on_submit():
        try:
            like = round_service.item_for(db.session, found, form.like.data)
            created = round_service.add_item(
                db.session,
                found,
                key=form.key.data or "",
                title=texts_from(form, "title", found.languages),
                text=texts_from(form, "text", found.languages),
                like=like,
                suggestion=suggestion,
                actor=facilitator(),
                now=utcnow(),
            )
        except NotFoundError:
            raise
        except ValidationError as error:
            db.session.rollback()
            summary.extend(
                ("key", m)
                for m in _errors_into(
                    form,
                    error,
                    {
                        "title": f"title_{found.default_language}",
                        "text": f"text_{found.default_language}",
                    },
                )
            )
            if not error.errors:
                summary.append(("key", str(error)))
        except DomainError as error:
            db.session.rollback()
            summary.append(("key", str(error)))
        else:
            flash(_("Item %(key)s is added; the next round asks it.", key=created.key), "success")
            return redirect(url_for("facilitator.items", study_id=found.id), code=303)
    summary.extend(_summary_of(form))
    return render_template(
        "facilitator/accept_suggestion.html",
        study=found,
        suggestion=suggestion,
        form=form,
        fields={p: fields_of(form, p, found.languages) for p in ("title", "text")},
        summary=summary,
        nav="items",
    ), (422 if summary else 200)


@bp.post("/studies/<int:study_id>/suggestions/<int:suggestion_id>/decline")
@facilitator_required
@atomic
def decline_suggestion(study_id: int, suggestion_id: int) -> Any:
    """Decline a suggestion (it stays listed as declined)."""
    found = _study(study_id)
    suggestion = round_service.suggestion_for(db.session, found, suggestion_id)
    with _flash_domain_errors():
        round_service.decline_suggestion(db.session, suggestion, actor=facilitator(), now=utcnow())
        flash(_("The suggestion is declined."), "success")
    return redirect(url_for("facilitator.items", study_id=found.id) + "#suggestions", code=303)


# --- audit log and team --------------------------------------------------------------------


@bp.get("/studies/<int:study_id>/audit")
@facilitator_required
def audit_log(study_id: int) -> Any:
    """The study's audit log, newest first (facilitator actions; never answers)."""
    found = _study(study_id)
    return render_template(
        "facilitator/audit_log.html",
        study=found,
        events=audit.events_for_study(db.session, found),
        nav="audit",
    )


def _owned_study(study_id: int) -> Study:
    """The study if the facilitator owns it (or is an admin); 404 for non-members, 403 for
    members who are not owners."""
    found = _study(study_id)
    if not study_service.may_manage(db.session, found, facilitator()):
        abort(403)
    return found


def _team_page(study: Study, form: MemberForm, status: int = 200) -> Any:
    """The team page: facilitators with their roles; owners also get the forms to manage it."""
    return render_template(
        "facilitator/team.html",
        study=study,
        members=dashboard.team(db.session, study),
        form=form,
        role_form=MemberRoleForm(formdata=None),
        may_manage=study_service.may_manage(db.session, study, facilitator()),
        summary=_summary_of(form),
        nav="team",
    ), status


@bp.get("/studies/<int:study_id>/team")
@facilitator_required
def team(study_id: int) -> Any:
    """The study's facilitators and their roles."""
    return _team_page(_study(study_id), MemberForm(formdata=None))


@bp.post("/studies/<int:study_id>/team")
@facilitator_required
@atomic
def add_member(study_id: int) -> Any:
    """Give another account access to the study, as a member or an owner (owners only)."""
    found = _owned_study(study_id)
    form = MemberForm()
    if form.validate_on_submit():
        user = dashboard.user_by_email(db.session, form.email.data or "")
        if user is None:
            form.email.errors = [_("No account has this email. An administrator can create one.")]
        else:
            study_service.add_member(
                db.session,
                found,
                user,
                role=MemberRole(form.role.data),
                actor=facilitator(),
                now=utcnow(),
            )
            flash(_("%(name)s can now run this study.", name=user.name), "success")
            return redirect(url_for("facilitator.team", study_id=found.id), code=303)
    return _team_page(found, form, 422)


@bp.post("/studies/<int:study_id>/team/<int:user_id>/role")
@facilitator_required
@atomic
def set_member_role(study_id: int, user_id: int) -> Any:
    """Make a team member an owner or a member (owners only; one owner always remains)."""
    found = _owned_study(study_id)
    member = study_service.member_of(db.session, found, user_id)
    form = MemberRoleForm()
    if not form.validate_on_submit():
        flash(_("Choose owner or member."), "error")
    else:
        with _flash_domain_errors():
            study_service.set_member_role(
                db.session,
                found,
                member,
                MemberRole(form.role.data),
                actor=facilitator(),
                now=utcnow(),
            )
            flash(_("The role of %(name)s is changed.", name=member.user.name), "success")
    return redirect(url_for("facilitator.team", study_id=found.id), code=303)


@bp.post("/studies/<int:study_id>/team/<int:user_id>/remove")
@facilitator_required
@atomic
def remove_member(study_id: int, user_id: int) -> Any:
    """Take a facilitator off the study's team (owners only; one owner always remains)."""
    found = _owned_study(study_id)
    member = study_service.member_of(db.session, found, user_id)
    name = member.user.name
    with _flash_domain_errors():
        study_service.remove_member(db.session, found, member, actor=facilitator(), now=utcnow())
        flash(_("%(name)s no longer has access to this study.", name=name), "success")
    return redirect(url_for("facilitator.team", study_id=found.id), code=303)


@bp.route("/admin/accounts", methods=["GET", "POST"])
@admin_required
@atomic
def accounts() -> Any:
    """Administrators: every account, and a form to create one."""
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = account_service.create_user(
                db.session,
                email=form.email.data or "",
                name=form.name.data or "",
                password=form.password.data or "",
                role=Role(form.role.data),
                now=utcnow(),
            )
        except ValidationError as error:
            db.session.rollback()
            _errors_into(form, error)
        else:
            audit.record(
                db.session,
                action="account.create",
                now=utcnow(),
                actor=facilitator(),
                target=user.email,
                role=user.role,
            )
            flash(
                _(
                    "The account %(email)s is created. Give them the password in person.",
                    email=user.email,
                ),
                "success",
            )
            return redirect(url_for("facilitator.accounts"), code=303)
    return render_template(
        "facilitator/accounts.html",
        users=dashboard.all_users(db.session),
        form=form,
        summary=_summary_of(form),
    ), (422 if form.errors else 200)
