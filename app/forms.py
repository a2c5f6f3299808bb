"""The base of every web form: text fields refuse control characters, naming the field.

Every form of the facilitators' pages, the account pages and the result pages derives from
`Form`. Its `Meta` adds one validator to each text field when the form is built, so a form
added later is covered without anyone remembering to: a control character (a NUL pasted from
somewhere, an escape code) comes back as an error next to the field that held it, and never
reaches the database, where PostgreSQL refuses NUL with a server error.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.fields.core import UnboundField
from wtforms.fields.simple import PasswordField, StringField
from wtforms.validators import StopValidation

from app.messages import render
from app.models.text import forbidden_character


def refuse_control_characters(form: Any, field: Field) -> None:
    """Stop validating a text field that holds a control character, saying which and where."""
    problem = forbidden_character(field.data) if isinstance(field.data, str) else None
    if problem is not None:
        raise StopValidation(render(problem, _))


class Form(FlaskForm):
    """A Flask-WTF form (CSRF included) whose text fields refuse control characters."""

    class Meta(FlaskForm.Meta):
        """Puts the control-character check in front of every text field's validators."""

        def bind_field(
            self, form: Any, unbound_field: UnboundField, options: dict[str, Any]
        ) -> Any:
            """Bind a field; text fields (StringField and its kin) get the check first.

            Passwords are left alone: they are only ever hashed, never stored or shown.
            """
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, StringField) and not isinstance(field, PasswordField):
                field.validators = [refuse_control_characters, *field.validators]
            return field
