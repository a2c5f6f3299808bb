"""Rendering invitation and reminder emails in each expert's language, and the mail settings.

Used by the facilitator pages (previews) and by the worker that sends the outbox, so it lives
outside any blueprint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from app.i18n import localise_digits
from app.models import Participation, Study
from app.services.invitations import MailContent, MailContext, MailKind
from app.services.mail import Mailer, mailer_from_config
from app.services.study_look import MailTemplate, fill, mail_template
from app.templating import when


def render_in(
    language: str,
    context: MailContext,
    study: Study | None = None,
    custom: MailTemplate | None = None,
) -> MailContent:
    """The email for `context`, with every fixed text in `language`: the study's own text of
    that kind in that language when it has one (or `custom`, for a preview), else the default."""
    with force_locale(language):
        if custom is None and study is not None:
            custom = mail_template(study, context.kind.value, language)
        if custom is not None:
            return _render_custom(custom, language, context)
        if context.kind == MailKind.INVITATION:
            subject = _("Invitation to a Delphi study: %(title)s", title=context.study_title)
        else:
            subject = _("Reminder: %(title)s", title=context.study_title)
        name = context.kind.value
        # the templates alone, without the request's context processors: the worker renders
        # outside any request, and inside one (tests run the queue at commit) a context
        # processor would open a transaction on the request's session
        environment = current_app.jinja_env
        text = environment.get_template(f"email/{name}.txt").render(mail=context, language=language)
        html = environment.get_template(f"email/{name}.html").render(
            mail=context, language=language
        )
    return MailContent(subject=subject, text=text, html=html)


def _render_custom(template: MailTemplate, language: str, context: MailContext) -> MailContent:
    """A study's own email: its placeholders filled in, the HTML part escaped and linked."""
    values = {
        "name": context.name,
        "study": context.study_title,
        "link": context.link,
        "round": localise_digits(str(context.round_number), language)
        if context.round_number
        else "–",
        "deadline": f"{when(context.deadline)} (UTC)" if context.deadline else "–",
        "message": context.message,
    }
    # a header holds one line: a name or title with a line break must not start another
    subject = " ".join(fill(template.subject, values).split())
    text = fill(template.body, values)
    marked = {key: escape(value) for key, value in values.items()}
    marked["link"] = Markup('<a href="{0}">{0}</a>').format(context.link)
    paragraphs = [
        _marked(part.strip(), marked) for part in template.body.split("\n\n") if part.strip()
    ]
    html = current_app.jinja_env.get_template("email/custom.html").render(
        mail=context, language=language, paragraphs=paragraphs
    )
    return MailContent(subject=subject, text=text, html=html)


def _marked(text: str, values: Mapping[str, Markup]) -> Markup:
    """HTML of a study's text: the text escaped, each known placeholder replaced by its value."""
    pieces = re.split(r"(\{[^{}]*\})", text)
    return Markup("").join(
        values.get(piece[1:-1], escape(piece)) if piece.startswith("{") else escape(piece)
        for piece in pieces
    )


def render_mail(participation: Participation, context: MailContext) -> MailContent:
    """The email for one panel member, in their language (the study's own text if it has one)."""
    return render_in(participation.language, context, participation.study)


def mailer() -> Mailer:
    """The mailer the app is configured with (SMTP, or the outbox under instance/)."""
    return mailer_from_config(current_app.config, instance_path=current_app.instance_path)


def sender() -> str:
    """The From address of mailings."""
    return str(current_app.config["MAIL_FROM"])


def base_url() -> str:
    """Where experts' private links point."""
    return str(current_app.config["PUBLIC_BASE_URL"])
