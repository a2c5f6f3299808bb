"""Forms of the facilitators' pages. Texts that exist per study language get one field each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import Form
from app.models import MemberRole, Role
from app.templating import LANGUAGE_NAMES

#: accepted forms of a datetime-local input (browsers send minutes, some seconds)
DATETIME_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

F = TypeVar("F", bound=Form)


class SimpleForm(Form):
    """A form with only the CSRF token (buttons that post)."""


class NewStudyForm(Form):
    """Create a study from an uploaded survey file or from one in the library."""

    file = FileField(_l("Survey file (.toml)"))
    library = SelectField(_l("Survey file from the library"), choices=[], validate_choice=False)


class ExpertForm(Form):
    """One expert for the panel."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    group = StringField(_l("Group"), validators=[Optional(), Length(max=60)])
    language = SelectField(_l("Language"), choices=[])


class ImportForm(Form):
    """A CSV file of experts."""

    file = FileField(_l("CSV file"))
    send_now = BooleanField(_l("Email the invitations to the new experts now"), default=True)


class InvitationsForm(Form):
    """Whom to invite by email."""

    audience = RadioField(
        _l("Send to"),
        choices=[
            SelectChoice("new", _l("Experts who were never sent an invitation")),
            SelectChoice(
                "all", _l("Everyone on the panel (each gets a new link; older links keep working)")
            ),
        ],
        default="new",
    )


class DeadlineForm(Form):
    """A round's deadline, entered in UTC."""

    deadline = DateTimeLocalField(
        _l("Deadline (UTC)"), format=DATETIME_LOCAL_FORMATS, validators=[Optional()]
    )


class CloseRoundForm(Form):
    """Close a round; when the close would withhold figures under k, the round number typed."""

    confirm = StringField(
        _l("Type the round number to close it anyway"), validators=[Length(max=20)]
    )


class RoundLimitForm(Form):
    """Allow more rounds than the survey pre-registered, with the reason (recorded)."""

    limit = IntegerField(_l("New round limit"), validators=[DataRequired()])
    reason = StringField(
        _l("Why more rounds are needed (recorded in the audit log)"),
        validators=[DataRequired(), Length(max=500)],
    )


class RetireForm(Form):
    """Stop asking an item."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class MemberForm(Form):
    """Give another facilitator access to the study."""

    email = EmailField(_l("Email of their account"), validators=[DataRequired(), Length(max=254)])
    role = RadioField(
        _l("Role"),
        choices=[
            SelectChoice(MemberRole.MEMBER.value, _l("Member: runs the study")),
            SelectChoice(
                MemberRole.OWNER.value,
                _l("Owner: also manages the team and may finish the study"),
            ),
        ],
        default=MemberRole.MEMBER.value,
    )


class MemberRoleForm(Form):
    """Make a team member an owner or a member."""

    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(MemberRole.MEMBER.value, _l("Member")),
            SelectChoice(MemberRole.OWNER.value, _l("Owner")),
        ],
    )


class AccountForm(Form):
    """A new account (administrators only)."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        _l("Initial password"), validators=[DataRequired(), Length(min=10, max=200)]
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(Role.FACILITATOR.value, _l("Facilitator (their studies only)")),
            SelectChoice(Role.ADMIN.value, _l("Administrator (every study and the accounts)")),
        ],
        default=Role.FACILITATOR.value,
    )


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def with_language_fields(
    base: type[F],
    languages: Sequence[str],
    fields: Sequence[tuple[str, Any, bool]],
    **data: Any,
) -> F:
    """An instance of `base` with one text field per (prefix, label, multiline) and language.

    Field names are `<prefix>_<language>`, e.g. `title_en`.
    """
    namespace: dict[str, Field] = {}
    for prefix, label, multiline in fields:
        for language in languages:
            name = LANGUAGE_NAMES.get(language, language)
            field_class = TextAreaField if multiline else StringField
            namespace[f"{prefix}_{language}"] = field_class(
                f"{label} ({name})",
                validators=[Optional(), Length(max=4000)],
                render_kw={"lang": language, "dir": "auto"},
            )
    form_class = type(base.__name__, (base,), namespace)
    return form_class(data=data or None)


def texts_from(form: Form, prefix: str, languages: Sequence[str]) -> dict[str, str]:
    """The non-empty `<prefix>_<language>` values of a form, by language."""
    texts = {}
    for language in languages:
        value = (getattr(form, f"{prefix}_{language}").data or "").strip()
        if value:
            texts[language] = value
    return texts


def fields_of(form: Form, prefix: str, languages: Sequence[str]) -> list[Any]:
    """The form's `<prefix>_<language>` fields, in the study's language order."""
    return [getattr(form, f"{prefix}_{language}") for language in languages]


class RoundForm(Form):
    """Prepare the next round; a message per language tells experts what changed."""


class RewordForm(Form):
    """A new wording of an item."""


class MergeForm(Form):
    """Fold items into another item."""

    into = SelectField(_l("Keep this item"), choices=[], coerce=int)
    merged = MultiCheckboxField(_l("Fold these items into it"), choices=[], coerce=int)


class AcceptSuggestionForm(Form):
    """Turn a suggestion into a new item asking the same questions as an existing one."""

    key = StringField(_l("Key of the new item"), validators=[DataRequired(), Length(max=32)])
    like = SelectField(_l("Ask the same questions as"), choices=[], coerce=int)


class ParticipationChoiceForm(Form):
    """A hidden participation id (actions on one panel member)."""

    participation_id = HiddenField()


def utc(value: datetime | None) -> datetime | None:
    """A naive datetime from a datetime-local input, read as UTC."""
    return None if value is None else value.replace(tzinfo=UTC)
