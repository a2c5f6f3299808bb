"""Facilitator pages for items between rounds: retire, reinstate, reword, merge; experts'
suggestions.
"""

from __future__ import annotations

from typing import Any

from flask import flash, render_template
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import (
    errors_into,
    flash_and_redirect,
    flash_domain_errors,
    member_study,
    page_language,
    redirect_to,
    summary_of,
)
from app.facilitator.forms import (
    AcceptSuggestionForm,
    MergeForm,
    RetireForm,
    RewordForm,
    SimpleForm,
    fields_of,
    texts_from,
    with_language_fields,
)
from app.models import DomainError, NotFoundError, Study, ValidationError, utcnow
from app.services import dashboard, item_notes
from app.services import rounds as round_service


@bp.get("/studies/<int:study_id>/items")
@facilitator_required
def items(study_id: int) -> Any:
    """Items with status and last round's consensus verdicts; round-1 suggestions."""
    found = member_study(study_id)
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
    found = member_study(study_id)
    item = round_service.item_for(db.session, found, item_id)
    form = RetireForm()
    if form.validate_on_submit():
        with flash_domain_errors():
            round_service.retire_item(
                db.session, item, reason=form.reason.data or "", actor=facilitator(), now=utcnow()
            )
            flash(
                _("Item %(key)s is retired; the next round does not ask it.", key=item.key),
                "success",
            )
    else:
        flash(_("The reason is too long."), "error")
    return redirect_to("items", found)


@bp.post("/studies/<int:study_id>/items/<int:item_id>/reinstate")
@facilitator_required
@atomic
def reinstate_item(study_id: int, item_id: int) -> Any:
    """Ask a retired item again from the next round on."""
    found = member_study(study_id)
    item = round_service.item_for(db.session, found, item_id)
    with flash_domain_errors():
        round_service.reinstate_item(db.session, item, actor=facilitator(), now=utcnow())
        flash(_("Item %(key)s is asked again from the next round.", key=item.key), "success")
    return redirect_to("items", found)


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
    found = member_study(study_id)
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
            return flash_and_redirect(
                _("Item %(key)s has a new wording; experts are told what changed.", key=item.key),
                "items",
                found,
            )
    summary.extend(summary_of(form))
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
            f"{i.key}: {i.current_version.title.get(page_language()) or i.current_version.title.get(study.default_language, '')}",
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
    found = member_study(study_id)
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
            return flash_and_redirect(
                _(
                    "Merged into %(key)s: %(keys)s.",
                    key=into.key,
                    keys=", ".join(i.key for i in merged),
                ),
                "items",
                found,
            )
    summary.extend(summary_of(form))
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
    found = member_study(study_id)
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
        return flash_and_redirect(
            _("This suggestion is %(status)s already.", status=suggestion.status),
            "items",
            found,
            "info",
        )
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
                for m in errors_into(
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
            return flash_and_redirect(
                _("Item %(key)s is added; the next round asks it.", key=created.key), "items", found
            )
    summary.extend(summary_of(form))
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
    found = member_study(study_id)
    suggestion = round_service.suggestion_for(db.session, found, suggestion_id)
    with flash_domain_errors():
        round_service.decline_suggestion(db.session, suggestion, actor=facilitator(), now=utcnow())
        flash(_("The suggestion is declined."), "success")
    return redirect_to("items", found, "#suggestions")
