"""Facilitator pages for what became of the items (realisations, outcomes, trend values) and
for the weights and forecast scores that follow from them.

Thin views: parse, call app.services.resolutions / calibration / forecast_scores, commit once.
A bad entry shows a message naming its field and saves nothing.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.definitions.model import ItemKind
from app.extensions import db
from app.facilitator import bp
from app.forms import Form
from app.i18n import render_message
from app.messages import render
from app.models import Study, ValidationError, pick_text, utcnow
from app.services import calibration, forecast_scores, resolutions, results, trend_scores
from app.services import studies as study_service
from app.templating import current_language


class RealisationForm(Form):
    """The true value of a calibration item."""

    kind = HiddenField(default="realisation")
    item = HiddenField()
    value = StringField(_l("Realisation"), validators=[Optional(), Length(max=40)])
    source = TextAreaField(_l("Source"), validators=[Optional(), Length(max=2000)])


class OutcomeForm(Form):
    """Whether an event occurred, and when (or as of when it had not)."""

    kind = HiddenField(default="outcome")
    item = HiddenField()
    occurred = RadioField(
        _l("Occurred"),
        choices=[
            SelectChoice("yes", _l("Yes, it occurred")),
            SelectChoice("no", _l("No, not as of the date")),
        ],
        validators=[Optional()],
        validate_choice=False,
    )
    resolved_on = StringField(_l("Date (YYYY-MM-DD)"), validators=[Optional(), Length(max=10)])
    source = TextAreaField(_l("Source"), validators=[Optional(), Length(max=2000)])


class TrendValueForm(Form):
    """A trend's realised value in one year."""

    kind = HiddenField(default="trend_value")
    item = HiddenField()
    year = StringField(_l("Year"), validators=[Optional(), Length(max=4)])
    value = StringField(_l("Realised value"), validators=[Optional(), Length(max=40)])
    source = TextAreaField(_l("Source"), validators=[Optional(), Length(max=2000)])


FORMS = {"realisation": RealisationForm, "outcome": OutcomeForm, "trend_value": TrendValueForm}


def _study(study_id: int) -> Study:
    """The study if the logged-in facilitator may act on it (404 otherwise)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def _number(text: str | None) -> float | None:
    """A typed number (decimal comma accepted), or None when it is not one."""
    try:
        value = float((text or "").strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _date(text: str | None) -> date | None:
    """An ISO date, or None."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _save(study: Study, form: Any) -> None:
    """Hand the form's entry to the service (ValidationError names the field at fault)."""
    now, actor = utcnow(), facilitator()
    kind, item, source = form.kind.data, form.item.data or "", form.source.data or ""
    if kind == "realisation":
        resolutions.record_realisation(
            db.session,
            study,
            item,
            value=_number(form.value.data),
            source=source,
            actor=actor,
            now=now,
        )
    elif kind == "outcome":
        occurred = {"yes": True, "no": False}.get(form.occurred.data or "")
        resolutions.record_outcome(
            db.session,
            study,
            item,
            occurred=occurred,
            on=_date(form.resolved_on.data),
            source=source,
            actor=actor,
            now=now,
        )
    else:
        year = _number(form.year.data)
        resolutions.record_trend_value(
            db.session,
            study,
            item,
            year=int(year) if year is not None and year.is_integer() else None,
            value=_number(form.value.data),
            source=source,
            actor=actor,
            now=now,
        )


@bp.route("/studies/<int:study_id>/resolutions", methods=["GET", "POST"])
@facilitator_required
@atomic
def resolutions_page(study_id: int) -> Any:
    """Record and correct realisations, outcomes and trend values; see their history."""
    study = _study(study_id)
    summary: list[tuple[str, str]] = []
    failed: dict[str, Any] = {}
    if request.method == "POST":
        kind = request.form.get("kind", "")
        form_class = FORMS.get(kind)
        form = form_class() if form_class else None
        if form is None or not form.validate_on_submit():
            summary.append(("item", _("The form could not be read; please try again.")))
        else:
            try:
                _save(study, form)
            except ValidationError as error:
                db.session.rollback()  # nothing half-saved
                for name, messages in error.errors.items():
                    label = getattr(getattr(form, name, None), "label", None)
                    for message in messages:
                        text = render(message, _)
                        summary.append(
                            (
                                f"{kind}-{form.item.data}-{name}",
                                f"{label.text if label else name}: {text}",
                            )
                        )
                failed[f"{kind}:{form.item.data}"] = form
            else:
                flash(_("Recorded for %(key)s.", key=form.item.data), "success")
                return redirect(
                    url_for("facilitator.resolutions_page", study_id=study.id), code=303
                )
    current = resolutions.current(db.session, study)
    resolvable = {r.item_key: r for r in resolutions.resolvable_items(study)}
    language = current_language()
    rows = []
    for item in study.items:
        row_kind = {
            ItemKind.CALIBRATION: "realisation",
            ItemKind.EVENT: "outcome",
            ItemKind.TREND: "trend_value",
        }.get(ItemKind(item.kind))
        if row_kind is None:
            continue
        form = failed.get(f"{row_kind}:{item.key}") or FORMS[row_kind](formdata=None, item=item.key)
        found = resolvable.get(item.key)
        if row_kind == "outcome" and not form.source.data and found and found.resolution_source:
            form.source.data = found.resolution_source
        rows.append(
            {
                "item": item,
                "title": pick_text(item.current_version.title, language, study.default_language),
                "kind": row_kind,
                "form": form,
                "realisation": current.realisations.get(item.key),
                "outcome": current.outcomes.get(item.key),
                "trend_values": sorted(current.trend_values.get(item.key, {}).items()),
                "resolves_by": found.resolves_by if found else None,
                "resolution_source": found.resolution_source if found else None,
            }
        )
    return render_template(
        "facilitator/resolutions.html",
        study=study,
        nav="results",
        rows=rows,
        summary=summary,
        history=resolutions.history(db.session, study),
        today=utcnow().date(),
    ), (422 if summary else 200)


@bp.get("/studies/<int:study_id>/weights")
@facilitator_required
def weights_page(study_id: int) -> Any:
    """Cooke's scores, the pooled probabilities under three weightings, and forecast scores."""
    study = _study(study_id)
    closed = results.closed_snapshots(db.session, study)
    if not closed:
        return render_template("facilitator/weights.html", study=study, nav="results", pooling=None)
    number = request.args.get("round", type=int)
    round_ = next((r for r, _d in closed if r.number == number), closed[-1][0])
    pooling = calibration.weighted_pooling(db.session, study, round_)
    scores = forecast_scores.score_round(db.session, study, round_, pooling)
    return render_template(
        "facilitator/weights.html",
        study=study,
        nav="results",
        pooling=pooling,
        scores=scores,
        trends=trend_scores.score_trends(db.session, study, round_),
        closed=[r.number for r, _d in closed],
        render_message=render_message,  # numbers in the page's digits
    )
