"""Facilitator pages for the studies themselves: the list, a new study from a survey file, a
study's dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.definitions import DefinitionError, load_definition, parse_definition
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import member_study
from app.facilitator.forms import NewStudyForm, SimpleForm
from app.models import ValidationError, utcnow
from app.services import dashboard
from app.services import rounds as round_service
from app.services import studies as study_service


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
    found = member_study(study_id)
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
