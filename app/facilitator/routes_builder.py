"""The study builder's pages: build a study in the browser, check it, preview it, launch it.

A draft belongs to the facilitator who started it (others get 404). Each section is a plain
form that works without JavaScript; each save runs the survey-file validator and, when it finds
a problem in what was saved, shows it next to the field with the typed input kept and saves
nothing. Launching imports the draft's canonical survey file as the "new study" page imports an
uploaded one; after that the study changes only through reword, retire and merge.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.definitions import DefinitionError
from app.extensions import db
from app.facilitator import bp
from app.facilitator import builder_forms as forms
from app.facilitator.forms import SimpleForm
from app.i18n import text_direction
from app.messages import render_error
from app.models import DomainError, NotFoundError, StudyDraft, utcnow
from app.services import builder
from app.services import studies as study_service
from app.templating import LANGUAGE_NAMES

SECTION_PATTERN = "any(" + ", ".join(builder.SECTIONS) + ")"


def _draft(draft_id: int) -> StudyDraft:
    """The logged-in facilitator's draft (NotFoundError, hence 404, for anyone else's)."""
    return builder.draft_for(db.session, facilitator(), draft_id)


def _study_table(draft: StudyDraft) -> dict[str, Any]:
    study = draft.document.get("study")
    return study if isinstance(study, dict) else {}


def _language(draft: StudyDraft) -> str:
    """The language the builder's forms edit: the study's default language."""
    return str(_study_table(draft).get("default_language") or "en")


def _languages(draft: StudyDraft) -> list[str]:
    languages = _study_table(draft).get("languages")
    return [str(x) for x in languages] if isinstance(languages, list) else []


def _problems(error: builder.DraftRejectedError) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in error.problems]


def _summary(form: Any, loose: list[str]) -> list[tuple[str, str]]:
    """The error summary: each field's problems (linked to the field), then the others."""
    lines = [
        (field.id, f"{field.label.text}: {message}")
        for field in form
        for message in field.errors
        if field.name != "csrf_token"
    ]
    return lines + [("", message) for message in loose]


def _render(template: str, draft: StudyDraft | None, status: int = 200, **context: Any) -> Any:
    return render_template(
        f"facilitator/builder/{template}.html",
        draft=draft,
        sections=builder.SECTIONS,
        language_names=LANGUAGE_NAMES,
        **context,
    ), status


# --- drafts ---------------------------------------------------------------------------------


@bp.get("/builder/")
@facilitator_required
def builder_drafts() -> Any:
    """The facilitator's drafts, and ways to start one."""
    drafts = builder.drafts_for(db.session, facilitator())
    return _render("drafts", None, drafts=drafts, import_form=forms.NewDraftImportForm())


@bp.route("/builder/new", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_new() -> Any:
    """Start a draft from its study settings (key, title, languages, horizon...)."""
    form = forms.SettingsForm()
    loose: list[str] = []
    if request.method == "GET":
        form.load({"languages": ["en"], "default_language": "en", "k": 5, "round_limit": 3})
    elif form.validate_on_submit():
        try:
            draft = builder.create_draft(db.session, facilitator(), form.table({}), utcnow())
        except builder.DraftRejectedError as error:
            loose = forms.attach(form, _problems(error), ["study"])
        else:
            flash(_("The draft is started. Next: scales and questions."), "success")
            return redirect(url_for("facilitator.builder_draft", draft_id=draft.id), code=303)
    summary = _summary(form, loose)
    return _render("settings", None, 422 if summary else 200, form=form, summary=summary)


@bp.route("/builder/import", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_import() -> Any:
    """Start a draft from a survey file (checked completely first, as on the new study page)."""
    form = forms.NewDraftImportForm()
    problems: list[str] = []
    if form.validate_on_submit():
        upload = form.file.data if isinstance(form.file.data, FileStorage) else None
        if upload is None or not upload.filename:
            problems.append(_("Choose a survey file to upload."))
        else:
            try:
                draft = builder.draft_from_file(
                    db.session, facilitator(), upload.read(), upload.filename, utcnow()
                )
            except DefinitionError as error:
                problems.extend(str(problem) for problem in error.problems)
            else:
                return redirect(url_for("facilitator.builder_draft", draft_id=draft.id), code=303)
    elif form.is_submitted():
        problems.extend(message for field in form for message in field.errors)
    return _render("import", None, 422 if problems else 200, form=form, problems=problems)


@bp.get("/builder/<int:draft_id>")
@facilitator_required
def builder_draft(draft_id: int) -> Any:
    """A draft's overview: its sections, what the validator says, export, preview, launch."""
    draft = _draft(draft_id)
    result = builder.check(draft.document)
    counts = {name: len(builder.entries(draft.document, name)) for name in builder.SECTIONS}
    return _render(
        "draft",
        draft,
        check=result,
        counts=counts,
        languages=_languages(draft),
        default_language=_language(draft),
        form=SimpleForm(),
    )


@bp.route("/builder/<int:draft_id>/settings", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_settings(draft_id: int) -> Any:
    """The study's settings (the `[study]` table)."""
    draft = _draft(draft_id)
    form = forms.SettingsForm()
    loose: list[str] = []
    if request.method == "GET":
        form.load(_study_table(draft))
    elif form.validate_on_submit():
        try:
            builder.save_study(db.session, draft, form.table(_study_table(draft)), utcnow())
        except builder.DraftRejectedError as error:
            loose = forms.attach(form, _problems(error), ["study"])
        except DomainError as error:
            loose = [render_error(error, _)]
        else:
            flash(_("The settings are saved."), "success")
            return redirect(url_for("facilitator.builder_draft", draft_id=draft.id), code=303)
    summary = _summary(form, loose)
    return _render("settings", draft, 422 if summary else 200, form=form, summary=summary)


def _entry_form(draft: StudyDraft, section: str) -> Any:
    """The section's form, with the choices this draft offers (scales, categories, questions)."""
    form = forms.ENTRY_FORMS[section]()
    if section == "questions":
        form.scale.choices = [SelectChoice("", _("(none)"))] + [
            SelectChoice(key, key) for key, _table in builder.entries(draft.document, "scales")
        ]
    if section == "items":
        form.category.choices = [SelectChoice("", _("(none)"))] + [
            SelectChoice(key, key) for key, _table in builder.entries(draft.document, "categories")
        ]
        form.questions.choices = [
            SelectChoice(key, key) for key, _table in builder.entries(draft.document, "questions")
        ]
    return form


def _save_entry(draft: StudyDraft, section: str, old_key: str | None, form: Any) -> None:
    """Save the form's entry (DraftRejectedError when the validator finds problems in it)."""
    old = builder.entry(draft.document, section, old_key) if old_key is not None else {}
    key = (form.key.data or "").strip()
    table = form.table(old, _language(draft))
    builder.save_entry(db.session, draft, section, old_key, key, table, utcnow())


@bp.route(f"/builder/<int:draft_id>/<{SECTION_PATTERN}:section>", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_section(draft_id: int, section: str) -> Any:
    """A section's entries (scales, questions, categories, items, scenarios), and a new one."""
    return _entry_page(draft_id, section, None)


@bp.route(f"/builder/<int:draft_id>/<{SECTION_PATTERN}:section>/<entry>", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_entry(draft_id: int, section: str, entry: str) -> Any:
    """Edit one entry of a section."""
    return _entry_page(draft_id, section, entry)


def _entry_page(draft_id: int, section: str, old_key: str | None) -> Any:
    draft = _draft(draft_id)
    if old_key is not None:
        builder.entry(draft.document, section, old_key)  # 404 when missing
    form = _entry_form(draft, section)
    loose: list[str] = []
    if request.method == "GET" and old_key is not None:
        form.load(old_key, builder.entry(draft.document, section, old_key), _language(draft))
    elif request.method == "POST" and form.validate_on_submit():
        keys = [k for k, _table in builder.entries(draft.document, section)]
        index = keys.index(old_key) if old_key is not None else len(keys)
        scopes = builder.entry_scopes(section, (form.key.data or "").strip(), index)
        try:
            _save_entry(draft, section, old_key, form)
        except builder.DraftRejectedError as error:
            loose = forms.attach(form, _problems(error), scopes)
        except DomainError as error:
            loose = [render_error(error, _)]
        else:
            flash(_("Saved."), "success")
            return redirect(
                url_for("facilitator.builder_section", draft_id=draft.id, section=section),
                code=303,
            )
    summary = _summary(form, loose)
    return _render(
        "section",
        draft,
        422 if summary else 200,
        section=section,
        rows=builder.entries(draft.document, section),
        editing=old_key,
        form=form,
        summary=summary,
        language=_language(draft),
        delete_form=SimpleForm(),
    )


@bp.post(f"/builder/<int:draft_id>/<{SECTION_PATTERN}:section>/<entry>/delete")
@facilitator_required
@atomic
def builder_delete_entry(draft_id: int, section: str, entry: str) -> Any:
    """Remove an entry; what referred to it shows up among the draft's problems."""
    draft = _draft(draft_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        builder.delete_entry(db.session, draft, section, entry, utcnow())
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(render_error(error, _), "error")
    else:
        flash(_("Removed %(key)s.", key=entry), "success")
    return redirect(url_for("facilitator.builder_section", draft_id=draft_id, section=section))


@bp.route("/builder/<int:draft_id>/translations/<language>", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_translations(draft_id: int, language: str) -> Any:
    """Every text of the draft in one language, next to the default language's."""
    draft = _draft(draft_id)
    default = _language(draft)
    if language not in _languages(draft) or language == default:
        raise NotFoundError("This draft has no such translation.")
    slots = builder.text_slots(draft.document)
    errors: dict[int, list[str]] = {}
    loose: list[str] = []
    values = {index: slot.texts.get(language, "") for index, slot in enumerate(slots)}
    form = SimpleForm()
    if request.method == "POST" and form.validate_on_submit():
        values = {
            index: request.form.get(f"text-{index}", "")[:20000] for index in range(len(slots))
        }
        try:
            builder.save_translations(db.session, draft, language, values, utcnow())
        except builder.DraftRejectedError as error:
            labels = {f"{slot.label}.{language}": i for i, slot in enumerate(slots)}
            for problem in error.problems:
                if problem.field in labels:
                    errors.setdefault(labels[problem.field], []).append(problem.message)
                else:
                    loose.append(f"{problem.field}: {problem.message}")
        except DomainError as error:
            loose.append(render_error(error, _))
        else:
            flash(_("The translations are saved."), "success")
            return redirect(
                url_for("facilitator.builder_translations", draft_id=draft.id, language=language),
                code=303,
            )
    summary = [(f"text-{i}", f"{slots[i].label}: {m}") for i in errors for m in errors[i]]
    summary += [("", message) for message in loose]
    return _render(
        "translations",
        draft,
        422 if summary else 200,
        form=form,
        slots=slots,
        values=values,
        errors=errors,
        summary=summary,
        language=language,
        default_language=default,
    )


@bp.route("/builder/<int:draft_id>/rules", methods=["GET", "POST"])
@facilitator_required
@atomic
def builder_rules(draft_id: int) -> Any:
    """The consensus and stopping rules, with what they mean in words ("Preview" saves nothing)."""
    draft = _draft(draft_id)
    form = forms.RulesForm()
    loose: list[str] = []
    rules = draft.document.get("rules")
    if request.method == "GET":
        form.load(rules if isinstance(rules, dict) else {})
    elif form.validate_on_submit() and "preview" not in request.form:
        try:
            builder.save_rules(db.session, draft, form.table(), utcnow())
        except builder.DraftRejectedError as error:
            loose = forms.attach(form, _problems(error), ["rules"])
        except DomainError as error:
            loose = [render_error(error, _)]
        else:
            flash(_("The rules are saved."), "success")
            return redirect(url_for("facilitator.builder_rules", draft_id=draft.id), code=303)
    summary = _summary(form, loose)
    readings = {
        "consensus": builder.read_rule(form.consensus.data or "", "consensus"),
        "stability": builder.read_rule(form.stability.data or "", "stability"),
    }
    return _render(
        "rules", draft, 422 if summary else 200, form=form, summary=summary, readings=readings
    )


@bp.get("/builder/<int:draft_id>/preview/<language>")
@facilitator_required
def builder_preview(draft_id: int, language: str) -> Any:
    """The draft as an expert would read it, in one of its languages (nothing can be sent)."""
    draft = _draft(draft_id)
    if language not in _languages(draft):
        raise NotFoundError("This draft has no such language.")
    result = builder.check(draft.document)
    return _render(
        "preview",
        draft,
        check=result,
        definition=result.definition,
        language=language,
        default_language=_language(draft),
        direction=text_direction(language),
    )


@bp.get("/builder/<int:draft_id>/survey.toml")
@facilitator_required
def builder_export(draft_id: int) -> Any:
    """The draft as a canonical survey file (only once the validator finds no problem)."""
    draft = _draft(draft_id)
    try:
        text = builder.draft_toml(draft)
    except builder.DraftRejectedError:
        flash(_("Fix the draft's problems first; then it can be exported."), "error")
        return redirect(url_for("facilitator.builder_draft", draft_id=draft.id))
    return _toml_response(text, builder.definition_key(draft))


@bp.post("/builder/<int:draft_id>/launch")
@facilitator_required
@atomic
def builder_launch(draft_id: int) -> Any:
    """Create the study from the draft; from then on items change by reword, retire, merge."""
    draft = _draft(draft_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        study = builder.launch(db.session, draft, actor=facilitator(), now=utcnow())
    except builder.DraftRejectedError:
        db.session.rollback()
        flash(_("Fix the draft's problems first; then it can be launched."), "error")
    except DomainError as error:  # e.g. another study has the key already
        db.session.rollback()
        flash(render_error(error, _), "error")
    else:
        flash(_("The study is created. Next: add the panel."), "success")
        return redirect(url_for("facilitator.study", study_id=study.id), code=303)
    return redirect(url_for("facilitator.builder_draft", draft_id=draft_id))


@bp.post("/builder/<int:draft_id>/delete")
@facilitator_required
@atomic
def builder_delete(draft_id: int) -> Any:
    """Forget a draft (a study launched from it stays)."""
    draft = _draft(draft_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    builder.delete_draft(db.session, draft)
    flash(_("The draft is deleted."), "success")
    return redirect(url_for("facilitator.builder_drafts"), code=303)


@bp.get("/studies/<int:study_id>/survey.toml")
@facilitator_required
def study_survey_file(study_id: int) -> Any:
    """A study's definition as it was launched, as a canonical survey file."""
    study = study_service.study_for(db.session, facilitator(), study_id)
    return _toml_response(builder.study_toml(study), study.key)


def _toml_response(text: str, key: str) -> Response:
    response = Response(text, mimetype="application/toml")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}.toml"'
    return response
