"""The expert's round, paged: an overview of every item with its state, one page per item
(or per category), one-click "keep my last answers", and a review page that lists exactly
what is still missing before the submit.

Every page works as plain HTML forms; with JavaScript the page saves each typed value as a
draft at once and moves between pages without reloading (static/js/round.js).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import NotFound

from app.auth import current_participation, expert_required
from app.database import atomic
from app.errors import csrf_failure, problem, wants_json
from app.expert.round_form import posted_payload
from app.expert.round_pages import (
    Page,
    RoundContext,
    estimate,
    first_unfinished,
    item_status_now,
    item_views,
    load_context,
    previous_number,
    review_items,
    sections,
)
from app.expert.routes import bp, closed_page, current_expert, translated_messages
from app.expert.views import (
    event_labels,
    hint_message,
    state_chips,
    state_labels,
)
from app.extensions import db, round_layouts
from app.i18n import localise_digits, render_message
from app.models import (
    ConflictError,
    Participation,
    Round,
    RoundClosedError,
    RoundItem,
    RoundProgress,
    StateError,
    ValidationError,
    utcnow,
)
from app.services import answers as answer_service
from app.services import burden, coherence, round_progress
from app.services import rounds as round_service
from app.services.answers import UNKNOWN, Unknown


def _open_round(me: Participation) -> Round | None:
    """The study's open round, if any."""
    return round_service.open_round_of(db.session, me.study)


def _time_left(round_: Round, now: datetime) -> int | None:
    """Whole days until the deadline (0 on its last day), None without one."""
    if round_.deadline is None:
        return None
    return max(0, (round_.deadline - now).days)


def _require_round() -> tuple[Participation, Round, Round | None] | Any:
    """The expert, the open round and the closed one before it, or the response to give
    instead."""
    me = current_expert()
    if me.consent_at is None:
        return redirect(url_for("expert.consent"))
    round_, closed = round_progress.open_round_and_previous(db.session, me.study)
    if round_ is None:
        flash(_("No round is open at the moment."), "info")
        return redirect(url_for("expert.home"))
    return me, round_, closed


@bp.get("/round")
@expert_required
def round_overview() -> Any:
    """The round's overview: every item by category with its state, the deadline, the time
    it takes, keep-all buttons and the way to review and submit."""
    found = _require_round()
    if not isinstance(found, tuple):
        return found
    me, round_, closed = found
    context = load_context(me, round_, closed)
    labels = state_labels()
    return render_template(
        "expert/overview.html",
        study=me.study,
        me=me,
        round=round_,
        context=context,
        sections=sections(context),
        estimate=estimate(context),
        previous_number=previous_number(round_),
        days_left=_time_left(round_, utcnow()),
        progress=db.session.get(RoundProgress, (me.id, round_.id)),
        labels=labels,
        chips=state_chips(labels),
        first_open=first_unfinished(context),
    )


def _render_page(
    context: RoundContext,
    index: int,
    page: Page,
    *,
    errors: Mapping[str, Mapping[str, list[str]]] | None = None,
    status: int = 200,
    notice: str | None = None,
    posted: Mapping[str, Any] | None = None,
) -> Any:
    """Render one page of the round (an item, or a category's items)."""
    items = item_views(context, page.round_items, errors, posted)
    labels = state_labels()
    return (
        render_template(
            "expert/item.html",
            study=context.me.study,
            round=context.round_,
            context=context,
            page=page,
            index=index,
            items=items,
            previous_page=context.pages[index - 1] if index > 0 else None,
            next_page=context.pages[index + 1] if index + 1 < len(context.pages) else None,
            previous_number=previous_number(context.round_),
            labels=labels,
            chips=state_chips(labels),
            idempotency_key=secrets.token_hex(12),
            notice=notice,
        ),
        status,
    )


@bp.get("/round/items/<key>")
@expert_required
def round_item(key: str) -> Any:
    """One item of the round on its own page, prefilled, with the panel's feedback."""
    found = _require_round()
    if not isinstance(found, tuple):
        return found
    context = load_context(*found)
    if context.me.study.page_by == "category":
        page = context.page_of_item(key)
        if page.kind == "category":
            return redirect(page.url + f"#item-{key}")
    index, page = context.page_of("item", key)
    return _render_page(context, index, page)


@bp.get("/round/categories/<category_key>")
@expert_required
def round_category(category_key: str) -> Any:
    """A category's items on one page (studies paged by category); in a study paged by item,
    its first item's page."""
    found = _require_round()
    if not isinstance(found, tuple):
        return found
    context = load_context(*found)
    if context.me.study.page_by != "category":
        first = next(
            (
                page
                for page in context.pages
                if any(
                    ri.item.category is not None
                    and ri.item.category.key.lower() == category_key.lower()
                    for ri in page.round_items
                )
            ),
            None,
        )
        if first is None:
            abort(404)
        return redirect(first.url)
    index, page = context.page_of("category", category_key)
    return _render_page(context, index, page)


def _posted_items(round_items: Sequence[RoundItem], key: str, *, category: bool) -> list[RoundItem]:
    """The round's items a save names: one item, or a category's (from the round's cached
    layout: an autosave must not load the round's items, versions and questions)."""
    if category:
        return [
            ri for ri in round_items if ri.item.category is not None and ri.item.category.key == key
        ]
    return [ri for ri in round_items if ri.item.key == key]


def _save_page(
    me: Participation,
    round_: Round,
    closed: Round | None | Unknown,
    round_items: Sequence[RoundItem],
    key: str | None,
) -> answer_service.SavedItems:
    """Save what the form posts for these items: valid values as answers, others as drafts."""
    given = burden.givens_of(
        db.session, me, [q for ri in round_items for q in ri.item.questions_in(round_.number)]
    )
    entries = []
    for ri in round_items:
        payloads = {}
        for question in ri.item.questions_in(round_.number):
            payload = posted_payload(request.form, question, given.get(question.id))
            if payload is not None:
                payloads[question.key] = payload
        if payloads:
            # the script's key names one item's save; a form's key names the page's post,
            # so each item of it gets its own
            item_key = key if key and len(round_items) == 1 and _from_script() else None
            if key and item_key is None:
                item_key = f"{key}-{ri.item_id}"
            entries.append(answer_service.ItemEntry(ri.item, payloads, item_key))
    return answer_service.save_items(
        db.session,
        me,
        round_,
        entries,
        now=utcnow(),
        drafts=True,
        given=given,
        versions={ri.item_id: ri.item_version_id for ri in round_items},
        closed=closed,
    )


def _from_script() -> bool:
    """Whether the page's script sent this request (its key comes as a header)."""
    return bool(request.headers.get("Idempotency-Key"))


def _posted_key() -> str | None:
    """The request's idempotency key (header from the script, hidden field from the form)."""
    key = request.headers.get("Idempotency-Key") or request.form.get("idempotency_key") or None
    return key if key and re.fullmatch(r"[A-Za-z0-9_.:\-]{8,64}", key) else None


def _echo() -> dict[str, str]:
    """What was posted (but the token), given back when it could not be saved."""
    return {k: v for k, v in request.form.items() if k not in ("csrf_token",)}


@bp.post("/round/categories/<category_key>")
@expert_required
@atomic
def save_category(category_key: str) -> Any:
    """Save a category page's answers (studies paged by category), as `save_page` does."""
    return _save(category_key)


@bp.post("/round/items/<key>")
@expert_required
@atomic
def save_page(key: str) -> Any:
    """Save a page's answers: from the script (JSON, one item at a time, as typed) or from
    the plain form (then go where the pressed button says)."""
    return _save(key)


def _save(key: str) -> Any:
    """Save what a page posts (the items of `key`: an item, or a category's)."""
    me = current_expert()
    request_key = _posted_key()
    round_, previous = round_progress.open_round_and_previous(db.session, me.study)
    closed: Round | None | Unknown = previous
    if round_ is None:
        # a retry of a save acknowledged before the round closed is answered as a replay
        round_ = answer_service.round_of_request(
            db.session, me, request.headers.get("Idempotency-Key")
        )
        closed = UNKNOWN
    if round_ is None:
        return _closed(me)
    layout = round_layouts().items_of(db.session, round_)
    round_items = _posted_items(layout, key, category=request.endpoint == "expert.save_category")
    if not round_items:
        abort(404)
    try:
        saved = _save_page(me, round_, closed, round_items, request_key)
    except RoundClosedError:
        return _closed(me)
    except ConflictError as error:
        if wants_json():
            return problem(409, "Conflict", str(error), payload=_echo())
        saved = answer_service.SavedItems({}, {})
    except StateError as error:
        if wants_json():
            return problem(409, "Not allowed", str(error), payload=_echo())
        raise
    errors = {item: translated_messages(errs) for item, errs in saved.errors.items()}
    if wants_json():
        return _saved_json(me, round_, layout, round_items[0], saved, errors, request_key)
    if errors:
        db.session.commit()  # keep what was saved; the request owns this transaction
        context = load_context(me, round_)
        index, page = _page_for(context, round_items[0])
        return _render_page(
            context,
            index,
            page,
            errors=errors,
            status=422,
            notice=_("Some answers could not be saved as typed (see below); the others are saved."),
        )
    return _after_save(me, round_, round_items[0], saved)


def _page_for(context: RoundContext, round_item: RoundItem) -> tuple[int, Page]:
    """The page (and index) that shows an item."""
    page = context.page_of_item(round_item.item.key)
    return context.pages.index(page), page


def _after_save(
    me: Participation, round_: Round, round_item: RoundItem, saved: answer_service.SavedItems
) -> Any:
    """Where a plain form post goes next: the button pressed says (next, previous, overview,
    review), with a word on drafts left."""
    drafts = sum(len(result.drafts) for result in saved.results.values())
    if drafts:
        flash(
            _(
                "Saved. Some answers are not complete yet; they are kept as you typed them "
                "and marked on the page."
            ),
            "info",
        )
    action = request.form.get("action", "save")
    context = load_context(me, round_)
    index, page = _page_for(context, round_item)
    if action == "next" and index + 1 < len(context.pages):
        return redirect(context.pages[index + 1].url, code=303)
    if action == "previous" and index > 0:
        return redirect(context.pages[index - 1].url, code=303)
    if action == "overview" or (action == "next" and index + 1 == len(context.pages)):
        return redirect(
            url_for("expert.round_review" if action == "next" else "expert.round_overview"),
            code=303,
        )
    if action == "review":
        return redirect(url_for("expert.round_review"), code=303)
    if not drafts:
        flash(_("Saved."), "success")
    return redirect(page.url + "#main", code=303)


def _saved_json(
    me: Participation,
    round_: Round,
    layout: list[RoundItem],
    round_item: RoundItem,
    saved: answer_service.SavedItems,
    errors: Mapping[str, Mapping[str, list[str]]],
    request_key: str | None,
) -> Any:
    """The script's acknowledgement: per question saved or draft (with why), the item's
    state and the round's progress. `key` names exactly the content acknowledged."""
    result = saved.results.get(round_item.item.key)
    if errors or result is None:
        return problem(
            422,
            "Invalid answer",
            _("Not saved: please check this item."),
            errors=errors.get(round_item.item.key, {}),
            payload=_echo(),
        )
    questions = {
        question.key: {"state": "saved"} for question in round_item.item.questions_in(round_.number)
    }
    for question_key, message in result.drafts.items():
        questions[question_key] = {"state": "draft", "message": render_message(message)}
    # an autosave answers fast: the state of this item alone and two counts, not the
    # whole round's pages (the overview recomputes everything when it is opened)
    status = item_status_now(me, round_, round_item, saved)
    done, drafted = round_progress.answered_and_drafted(db.session, me, round_)
    answered, total = round_progress.item_progress(
        db.session,
        me,
        round_,
        asked=round_layouts().asked(layout, round_.number),
        answered=done,
        drafted=drafted,
    )
    hints = []
    if any(q.kind == "conditional" for q in round_item.item.questions):
        found = coherence.coherence_hints(
            db.session,
            me,
            round_,
            answers=answer_service.stored_answers(
                db.session, me, round_, coherence.questions_read(layout, round_)
            ),
            round_items=layout,
        )
        events = event_labels(layout)
        hints = [hint_message(h, events) for h in found.get(round_item.item.key, [])]
    return jsonify(
        hints=hints,
        saved=True,
        replay=result.replay,
        key=request_key,
        item=round_item.item.key,
        questions=questions,
        state=status.state.value,
        answered=answered,
        total=total,
        saved_at=utcnow().isoformat(),
    )


def _closed(me: Participation) -> Any:
    """The round closed before these answers arrived: say so, and show back what was typed."""
    if wants_json():
        return problem(
            409,
            "Round closed",
            _("The round is closed; this change was not saved."),
            payload=_echo(),
        )
    return closed_page(me.study)


@bp.post("/round/keep")
@expert_required
@atomic
def keep() -> Any:
    """Keep the previous round's answers for one item, a category or every untouched item."""
    me = current_expert()
    round_ = _open_round(me)
    if round_ is None:
        return _closed(me)
    scope = request.values.get("scope", "item")
    key = request.values.get("key", "")
    context = load_context(me, round_)
    if scope == "all":
        chosen = [ri.item for ri in round_.items if ri.item_id in context.status.keepable]
    elif scope == "category":
        chosen = [
            ri.item
            for ri in round_.items
            if ri.item_id in context.status.keepable
            and ri.item.category is not None
            and ri.item.category.key == key
        ]
    else:
        chosen = [ri.item for ri in round_.items if ri.item.key == key]
    saved = answer_service.keep_previous(
        db.session, me, round_, chosen, now=utcnow(), given=context.given
    )
    kept = len(saved.results)
    if wants_json():
        status = round_progress.round_status(db.session, me, round_, given=context.given)
        return jsonify(kept=kept, answered=status.answered, total=status.total)
    if kept:
        flash(
            localise_digits(
                ngettext(
                    "Your round %(round)s answers are kept for %(num)s item.",
                    "Your round %(round)s answers are kept for %(num)s items.",
                    kept,
                    round=round_.number - 1,
                )
            ),
            "success",
        )
    target = request.values.get("next", "")
    if not target.startswith("/e/round"):
        target = url_for("expert.round_overview")
    return redirect(target, code=303)


@bp.get("/round/review")
@expert_required
def round_review() -> Any:
    """Review before submitting: exactly which question of which item is missing, each a link."""
    found = _require_round()
    if not isinstance(found, tuple):
        return found
    return _render_review(load_context(*found))


def _render_review(context: RoundContext, *, status: int = 200, notice: str | None = None) -> Any:
    """The review page."""
    round_ = context.round_
    by_key = {ri.item.key: context.page_of_item(ri.item.key) for ri in round_.items}
    items = review_items(context)
    found = coherence.coherence_hints(
        db.session, context.me, round_, answers=context.loaded.answers
    )
    hints = [
        (by_key[item_key], hint_message(hint, context.events))
        for item_key, item_hints in found.items()
        for hint in item_hints
    ]
    return (
        render_template(
            "expert/review.html",
            study=context.me.study,
            round=round_,
            context=context,
            items=items,
            problems=sum(item.missing for item in items),
            hints=hints,
            previous_number=previous_number(round_),
            progress=db.session.get(RoundProgress, (context.me.id, round_.id)),
            labels=state_labels(),
            notice=notice,
            idempotency_key=secrets.token_hex(12),
        ),
        status,
    )


@bp.post("/round/submit")
@expert_required
@atomic
def submit() -> Any:
    """Submit the round (revisable until it closes); if anything is missing, the review page
    says exactly what."""
    me = current_expert()
    round_, closed = round_progress.open_round_and_previous(db.session, me.study)
    if round_ is None:
        return _closed(me)
    context = load_context(me, round_, closed)
    try:
        round_progress.submit_round(
            db.session,
            me,
            round_,
            now=utcnow(),
            outside_iqr=context.outside_iqr,
            loaded=context.loaded,
            given=context.given,
        )
    except ValidationError:
        return _render_review(
            context,
            status=422,
            notice=_("The round is not submitted yet: the answers below need attention."),
        )
    flash(
        _(
            "Thank you: your answers are submitted. You can still change them until the round closes."
        ),
        "success",
    )
    return redirect(url_for("expert.home"), code=303)


@bp.get("/round/token")
@expert_required
def fresh_token() -> Any:
    """A fresh CSRF token for the page's script (after the old one expired); 401 when the
    session itself has ended."""
    return jsonify(csrf_token=generate_csrf())


def rerender_with_typed_values() -> Any:
    """After a stale CSRF token on a page's plain form post, show the page again with every
    typed value (nothing was saved), or None when there is no page to show."""
    me = current_participation()
    if me is None:
        return None
    round_ = _open_round(me)
    if round_ is None or request.view_args is None:
        return None
    context = load_context(me, round_)
    kind = "category" if request.endpoint == "expert.save_category" else "item"
    key = str(request.view_args.get("category_key" if kind == "category" else "key", ""))
    try:
        index, page = context.page_of(kind, key)
    except NotFound:  # no such page: the plain "please try again" answer, not an error
        return None
    body, _status = _render_page(
        context,
        index,
        page,
        status=400,
        posted=request.form,
        notice=_(
            "Your session changed, so these answers were not saved yet. They are all still "
            "here: press Save again."
        ),
    )
    return body, 400


@bp.errorhandler(CSRFError)
def csrf_failure_on_expert_pages(error: CSRFError) -> Any:
    """A stale CSRF token on a round page shows the page again with every typed value;
    elsewhere on the expert's pages the usual 'please try again' page."""
    db.session.rollback()
    if request.endpoint in ("expert.save_page", "expert.save_category") and not wants_json():
        rerendered = rerender_with_typed_values()
        if rerendered is not None:
            return rerendered
    return csrf_failure()
