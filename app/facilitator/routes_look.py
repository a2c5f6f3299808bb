"""The study's look and mail: its own invitation and reminder texts per language (with a
preview), its colours and its logo.

These routes join the facilitator blueprint. Each form posts to its own address; a text or value
that does not pass (app.services.study_look) comes back on the page with the error next to its
field and nothing saved.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.emails import render_in
from app.extensions import db
from app.facilitator import bp
from app.facilitator.forms import SimpleForm
from app.forms import Form
from app.messages import Message, render
from app.models import Round, Study, ValidationError, utcnow
from app.services import rounds as round_service
from app.services import studies as study_service
from app.services import study_look
from app.services.invitations import MailContent, MailContext, MailKind, private_link
from app.templating import LANGUAGE_NAMES


class MailTemplateForm(Form):
    """A study's own subject and body of one kind of email in one language."""

    subject = StringField(_l("Subject"), validators=[Length(max=study_look.SUBJECT_MAX)])
    body = TextAreaField(_l("Body"), validators=[Length(max=study_look.BODY_MAX)])


class ColoursForm(Form):
    """The study's colours on expert pages and in the report (#rrggbb; empty: the platform's)."""

    brand = StringField(_l("Main colour"), validators=[Length(max=7)])
    accent = StringField(_l("Accent colour"), validators=[Length(max=7)])


def _study(study_id: int) -> Study:
    """The study if the signed-in facilitator may act on it (404 if not)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def _context(study: Study, kind: MailKind, language: str, round_: Round | None) -> MailContext:
    """A sample email's values: a made-up name and link, the open round's deadline and message."""
    return MailContext(
        kind=kind,
        name=_("(expert's name)"),
        study_title=study.text("title", language),
        link=private_link(request.host_url.rstrip("/"), "(personal-link)"),
        round_number=round_.number if round_ else 1,
        deadline=round_.deadline if round_ else None,
        message=(round_.message or {}).get(language, "") if round_ else "",
    )


def _error_texts(errors: dict[str, list[Message]]) -> dict[str, list[str]]:
    """Field -> translated messages."""
    return {field: [render(m, _) for m in messages] for field, messages in errors.items()}


def _page(
    study: Study,
    *,
    forms: dict[tuple[str, str], MailTemplateForm] | None = None,
    preview: tuple[str, str, MailContent] | None = None,
    colours: ColoursForm | None = None,
    logo_errors: list[str] | None = None,
    status: int = 200,
) -> Any:
    """The look and mail page, with any forms that came back with errors."""
    forms = dict(forms or {})
    for kind in study_look.MAIL_KINDS:
        for language in study.languages:
            if (kind, language) not in forms:
                saved = study_look.mail_template(study, kind, language)
                forms[(kind, language)] = MailTemplateForm(
                    formdata=None,
                    prefix=f"{kind}-{language}",
                    subject=saved.subject if saved else "",
                    body=saved.body if saved else "",
                )
    if colours is None:
        colours = ColoursForm(formdata=None, **dict(study.colours or {}))
    logo = study_look.logo_data_uri(study)
    return (
        render_template(
            "facilitator/look.html",
            study=study,
            nav="mail",
            forms=forms,
            saved={
                (kind, language): study_look.mail_template(study, kind, language) is not None
                for kind, language in forms
            },
            preview=preview,
            colours=colours,
            logo=logo,
            logo_errors=logo_errors or [],
            logo_form=SimpleForm(),
            placeholders=study_look.PLACEHOLDERS,
            language_names=LANGUAGE_NAMES,
            logo_max_kb=study_look.LOGO_MAX_BYTES // 1024,
        ),
        status,
    )


@bp.get("/studies/<int:study_id>/look")
@facilitator_required
def look(study_id: int) -> Any:
    """The study's own email texts, colours and logo."""
    return _page(_study(study_id))


@bp.post("/studies/<int:study_id>/look/mail/<kind>/<language>")
@facilitator_required
@atomic
def save_mail_template(study_id: int, kind: str, language: str) -> Any:
    """Save, preview or reset the study's own email of one kind in one language."""
    found = _study(study_id)
    if kind not in study_look.MAIL_KINDS or language not in found.languages:
        abort(404)
    form = MailTemplateForm(prefix=f"{kind}-{language}")
    action = request.form.get("action", "save")
    if not form.validate_on_submit():
        return _page(found, forms={(kind, language): form}, status=422)
    if action == "reset":
        study_look.clear_mail_template(
            db.session, found, kind, language, actor=facilitator(), now=utcnow()
        )
        flash(_("The default email is used again."), "success")
        return redirect(url_for("facilitator.look", study_id=found.id))
    subject, body = form.subject.data or "", form.body.data or ""
    errors = study_look.template_errors(subject, body)
    if errors:
        for name, texts in _error_texts(errors).items():
            getattr(form, name).errors = list(getattr(form, name).errors) + texts
        return _page(found, forms={(kind, language): form}, status=422)
    if action == "preview":
        open_round = round_service.open_round_of(db.session, found)
        content = render_in(
            language,
            _context(found, MailKind(kind), language, open_round),
            custom=study_look.MailTemplate(subject=subject, body=body),
        )
        return _page(found, forms={(kind, language): form}, preview=(kind, language, content))
    study_look.set_mail_template(
        db.session,
        found,
        kind,
        language,
        subject=subject,
        body=body,
        actor=facilitator(),
        now=utcnow(),
    )
    flash(_("The email text is saved."), "success")
    return redirect(url_for("facilitator.look", study_id=found.id) + f"#mail-{kind}-{language}")


@bp.post("/studies/<int:study_id>/look/colours")
@facilitator_required
@atomic
def save_colours(study_id: int) -> Any:
    """Save the study's colours."""
    found = _study(study_id)
    form = ColoursForm()
    if not form.validate_on_submit():
        return _page(found, colours=form, status=422)
    values = {"brand": form.brand.data or "", "accent": form.accent.data or ""}
    try:
        study_look.set_colours(db.session, found, values, actor=facilitator(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        for name, texts in _error_texts(error.errors).items():
            getattr(form, name).errors = list(getattr(form, name).errors) + texts
        return _page(_study(study_id), colours=form, status=422)
    flash(_("The colours are saved."), "success")
    return redirect(url_for("facilitator.look", study_id=found.id))


@bp.post("/studies/<int:study_id>/look/logo")
@facilitator_required
@atomic
def save_logo(study_id: int) -> Any:
    """Upload (or, with action=remove, remove) the study's logo."""
    found = _study(study_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    if request.form.get("action") == "remove":
        study_look.remove_logo(db.session, found, actor=facilitator(), now=utcnow())
        flash(_("The logo is removed."), "success")
        return redirect(url_for("facilitator.look", study_id=found.id))
    upload = request.files.get("logo")
    # one byte over the limit is enough to tell that the file is too large
    data = upload.stream.read(study_look.LOGO_MAX_BYTES + 1) if upload else b""
    try:
        study_look.set_logo(db.session, found, data, actor=facilitator(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        texts = _error_texts(error.errors).get("logo") or [render(error.args[0], _)]
        return _page(_study(study_id), logo_errors=texts, status=422)
    flash(_("The logo is saved."), "success")
    return redirect(url_for("facilitator.look", study_id=found.id))
