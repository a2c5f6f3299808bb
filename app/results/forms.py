"""Forms of the result pages: data downloads (audited) and the identified export."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from app.forms import Form


class ExportForm(Form):
    """Download the study's data: anonymous answers (CSV), all tables (XLSX) or the archive (JSON)."""

    format = SelectField(
        _l("Format"),
        choices=[
            SelectChoice("csv", _l("Answers, one row each (CSV)")),
            SelectChoice("xlsx", _l("All tables (XLSX)")),
            SelectChoice("json", _l("Study archive (JSON)")),
        ],
        validators=[InputRequired()],
    )
    #: the closed round the spreadsheet is as of (empty: the latest)
    round = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,3}$")])


class IdentifiedExportForm(Form):
    """Answers with names and emails: confidential studies, administrators only, with a reason."""

    format = SelectField(
        _l("Format"),
        choices=[SelectChoice("csv", "CSV"), SelectChoice("xlsx", "XLSX")],
        validators=[InputRequired()],
    )
    reason = TextAreaField(
        _l("Why is an identified export needed? (recorded in the audit log)"),
        validators=[DataRequired(), Length(max=500)],
    )


class ArchiveImportForm(Form):
    """Create a study from an archive file."""

    archive = FileField(_l("Study archive (JSON)"), validators=[FileRequired()])


class BuildForm(Form):
    """Build (again) one kept file of a closed round (default the latest): a language and a
    format."""

    language = HiddenField(validators=[InputRequired(), Length(max=8)])
    format = HiddenField(validators=[InputRequired(), Length(max=10)])
    #: the closed round the file is as of (empty: the latest)
    round = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,3}$")])
