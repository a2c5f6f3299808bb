"""Rendering invitation and reminder emails in each expert's language, and the mail settings.

Used by the facilitator pages (previews) and by the worker that sends the outbox, so it lives
outside any blueprint.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from app.models import Participation
from app.services.invitations import MailContent, MailContext, MailKind
from app.services.mail import Mailer, mailer_from_config


def render_in(language: str, context: MailContext) -> MailContent:
    """The email for `context`, with every fixed text in `language`."""
    with force_locale(language):
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


def render_mail(participation: Participation, context: MailContext) -> MailContent:
    """The email for one panel member, in their language."""
    return render_in(participation.language, context)


def mailer() -> Mailer:
    """The mailer the app is configured with (SMTP, or the outbox under instance/)."""
    return mailer_from_config(current_app.config, instance_path=current_app.instance_path)


def sender() -> str:
    """The From address of mailings."""
    return str(current_app.config["MAIL_FROM"])


def base_url() -> str:
    """Where experts' private links point."""
    return str(current_app.config["PUBLIC_BASE_URL"])
