"""A study's own look and mail: invitation and reminder texts per language, colours and a logo.

Email texts are plain text with placeholders in braces ({name}, {link}, ...), filled in when an
email is sent, in the expert's language. They are checked when saved: an unknown placeholder, a
stray brace, or a body without {link} (the expert could not get in) is an error on its field.
Colours are #rrggbb; a logo is a PNG or JPEG no larger than LOGO_MAX_BYTES and LOGO_MAX_PIXELS
on a side, checked by decoding it (its name and declared type are not trusted). These
functions flush and never commit.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.messages import N_, Message
from app.models import Study, User, ValidationError
from app.services import audit

#: the kinds of email a study may word itself
MAIL_KINDS = ("invitation", "reminder")
#: what a text may say in braces, and what fills it in
PLACEHOLDERS = ("name", "study", "link", "round", "deadline", "message")
#: a body must give the expert their way in
REQUIRED_IN_BODY = ("link",)
SUBJECT_MAX = 200
BODY_MAX = 5000
#: colours a study may set: CSS custom property names on expert pages and in the report
COLOUR_NAMES = ("brand", "accent")
LOGO_MAX_BYTES = 200 * 1024
LOGO_MAX_PIXELS = 2000
#: image formats a logo may have (decoded format -> media type); never SVG (it can hold scripts)
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}

_BRACES = re.compile(r"\{([^{}]*)\}")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class MailTemplate:
    """A study's own subject and body of one kind of email in one language."""

    subject: str
    body: str


def template_errors(subject: str, body: str) -> dict[str, list[Message]]:
    """Field -> what is wrong with a subject and body (empty: they can be saved)."""
    errors: dict[str, list[Message]] = {}
    for field, text, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX)):
        found: list[Message] = []
        if not text.strip():
            found.append(N_("This field is required."))
        if len(text) > limit:
            found.append(N_("At most %(n)s characters.", n=limit))
        names = _BRACES.findall(text)
        unknown = sorted({n for n in names if n not in PLACEHOLDERS})
        if unknown:
            found.append(
                N_(
                    "Unknown placeholder %(names)s; use %(known)s.",
                    names=", ".join("{" + n + "}" for n in unknown),
                    known=", ".join("{" + n + "}" for n in PLACEHOLDERS),
                )
            )
        if "{" in _BRACES.sub("", text) or "}" in _BRACES.sub("", text):
            found.append(N_("A brace without its pair: placeholders are written {name}."))
        if field == "subject" and "link" in names:
            found.append(N_("The private link belongs in the body, not in the subject."))
        if field == "body" and text.strip():
            for needed in REQUIRED_IN_BODY:
                if needed not in names:
                    found.append(
                        N_(
                            "The body must contain {%(name)s}: without it the expert cannot get in.",
                            name=needed,
                        )
                    )
        if found:
            errors[field] = found
    return errors


def mail_template(study: Study, kind: str, language: str) -> MailTemplate | None:
    """The study's own text of `kind` in `language`, if it has one (no fallback language:
    an expert gets the default email in their own language rather than another language's)."""
    entry = (study.mail_templates or {}).get(kind, {}).get(language)
    if not isinstance(entry, Mapping) or not entry.get("body"):
        return None
    return MailTemplate(subject=str(entry.get("subject", "")), body=str(entry["body"]))


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each {placeholder} replaced by its value (unknown ones left as written)."""
    return _BRACES.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def set_mail_template(
    session: Session,
    study: Study,
    kind: str,
    language: str,
    *,
    subject: str,
    body: str,
    actor: User | None,
    now: datetime,
) -> None:
    """Save the study's own email of `kind` in `language`; ValidationError names bad fields."""
    _check_kind_language(study, kind, language)
    errors = template_errors(subject, body)
    if errors:
        raise ValidationError(N_("The email text has errors."), dict(errors))
    templates = _copy(study.mail_templates)
    templates.setdefault(kind, {})[language] = {"subject": subject.strip(), "body": body.strip()}
    study.mail_templates = templates
    audit.record(
        session,
        action="study.mail_template",
        now=now,
        actor=actor,
        study=study,
        target=f"{kind}:{language}",
    )


def clear_mail_template(
    session: Session, study: Study, kind: str, language: str, *, actor: User | None, now: datetime
) -> None:
    """Go back to the default email of `kind` in `language`."""
    _check_kind_language(study, kind, language)
    templates = _copy(study.mail_templates)
    if templates.get(kind, {}).pop(language, None) is None:
        return
    study.mail_templates = templates
    audit.record(
        session,
        action="study.mail_template.cleared",
        now=now,
        actor=actor,
        study=study,
        target=f"{kind}:{language}",
    )


def colour_errors(colours: Mapping[str, str]) -> dict[str, list[Message]]:
    """Field -> what is wrong with the colours (an empty value means the platform's colour)."""
    return {
        name: [N_("Write a colour as # and six hexadecimal digits, e.g. #1f4e79.")]
        for name in COLOUR_NAMES
        if (value := (colours.get(name) or "").strip()) and not _HEX.fullmatch(value)
    }


def set_colours(
    session: Session,
    study: Study,
    colours: Mapping[str, str],
    *,
    actor: User | None,
    now: datetime,
) -> None:
    """Save the study's colours (#rrggbb; empty: the platform's); ValidationError if malformed."""
    errors = colour_errors(colours)
    if errors:
        raise ValidationError(N_("The colours have errors."), dict(errors))
    new = {
        name: value.lower() for name in COLOUR_NAMES if (value := (colours.get(name) or "").strip())
    }
    if new == dict(study.colours or {}):
        return
    old = dict(study.colours or {})
    study.colours = new
    audit.record(
        session, action="study.colours", now=now, actor=actor, study=study, old=old, new=new
    )


def logo_type(data: bytes) -> str:
    """The media type of an acceptable logo; ValidationError (field "logo") if it is not one."""
    from PIL import Image, UnidentifiedImageError

    def refuse(message: Message) -> ValidationError:
        return ValidationError(message, {"logo": [message]})

    if not data:
        raise refuse(N_("Choose an image file."))
    if len(data) > LOGO_MAX_BYTES:
        raise refuse(N_("The logo may be at most %(kb)s KB.", kb=LOGO_MAX_BYTES // 1024))
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise refuse(N_("The logo must be a PNG or JPEG image.")) from None
    if kind not in LOGO_TYPES:
        raise refuse(N_("The logo must be a PNG or JPEG image."))
    if max(width, height) > LOGO_MAX_PIXELS:
        raise refuse(N_("The logo may be at most %(n)s pixels wide and high.", n=LOGO_MAX_PIXELS))
    return LOGO_TYPES[kind]


def set_logo(
    session: Session, study: Study, data: bytes, *, actor: User | None, now: datetime
) -> None:
    """Store the study's logo after checking it (logo_type)."""
    study.logo_type = logo_type(data)
    study.logo = data
    study.logo_hash = hashlib.sha256(data).hexdigest()
    audit.record(session, action="study.logo", now=now, actor=actor, study=study)


def logo_data_uri(study: Study) -> str | None:
    """The study's logo as a data: address (pages and reports embed it), if it has one."""
    if not (study.logo_hash and study.logo_type and study.logo):
        return None
    return f"data:{study.logo_type};base64,{base64.b64encode(study.logo).decode('ascii')}"


def remove_logo(session: Session, study: Study, *, actor: User | None, now: datetime) -> None:
    """Remove the study's logo."""
    if study.logo_hash is None:
        return
    study.logo = None
    study.logo_type = None
    study.logo_hash = None
    audit.record(session, action="study.logo.removed", now=now, actor=actor, study=study)


def _check_kind_language(study: Study, kind: str, language: str) -> None:
    """ValidationError unless `kind` is an email kind and `language` one of the study's."""
    if kind not in MAIL_KINDS:
        raise ValidationError(
            N_("Unknown kind of email."), {"kind": [N_("Unknown kind of email.")]}
        )
    if language not in (study.languages or []):
        message = N_("This study is not offered in that language.")
        raise ValidationError(message, {"language": [message]})


def _copy(templates: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A deep enough copy of the templates that assigning it marks the JSON column changed."""
    return {kind: dict(by_language) for kind, by_language in (templates or {}).items()}
