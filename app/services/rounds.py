"""Rounds: create, open, close (freezing the snapshot), deadlines; items between rounds."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import ObjectDeletedError

from app.messages import N_
from app.models import (
    Item,
    ItemStatus,
    ItemVersion,
    NotFoundError,
    Question,
    Round,
    RoundItem,
    RoundState,
    RoundStateError,
    Snapshot,
    StateError,
    Study,
    StudyStatus,
    Suggestion,
    User,
    ValidationError,
)
from app.services import audit, burden
from app.services.snapshots import build_snapshot
from app.services.studies import require_owner


def rounds_of(session: Session, study: Study) -> list[Round]:
    """The study's rounds, in order."""
    return list(
        session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    )


def round_for(session: Session, study: Study, number: int) -> Round:
    """Round `number` of the study, or NotFoundError."""
    found = session.scalar(select(Round).where(Round.study_id == study.id, Round.number == number))
    if found is None:
        raise NotFoundError(f"Round {number} does not exist.")
    return found


def open_round_of(session: Session, study: Study) -> Round | None:
    """The round experts can answer now, if any."""
    return session.scalar(
        select(Round).where(Round.study_id == study.id, Round.state == RoundState.OPEN)
    )


def latest_round(session: Session, study: Study) -> Round | None:
    """The round with the highest number, if any."""
    return session.scalar(
        select(Round).where(Round.study_id == study.id).order_by(Round.number.desc()).limit(1)
    )


def check_deadline(deadline: datetime | None, now: datetime) -> None:
    """Raise ValidationError unless the deadline (if any) lies in the future."""
    if deadline is not None and deadline <= now:
        past = deadline.astimezone(UTC)
        message = N_(
            "The deadline must be in the future: %(deadline)s UTC has passed.",
            # by hand: strftime writes the year 1 as "1", not "0001"
            deadline=f"{past.year:04d}-{past.month:02d}-{past.day:02d} {past:%H:%M}",
        )
        raise ValidationError(str(message), {"deadline": [message]})


def create_round(
    session: Session,
    study: Study,
    *,
    actor: User | None,
    now: datetime,
    message: dict[str, str] | None = None,
    deadline: datetime | None = None,
) -> Round:
    """Prepare the next round as a draft (items are fixed when it opens)."""
    if study.status == StudyStatus.FINISHED:
        raise StateError("This study is finished.")
    last = latest_round(session, study)
    if last is not None and last.state != RoundState.CLOSED:
        raise RoundStateError(
            f"Round {last.number} is {last.state}; close it before preparing the next one."
        )
    check_deadline(deadline, now)
    number = 1 if last is None else last.number + 1
    if number > study.round_limit:
        raise StateError(f"The study allows {study.round_limit} rounds (its pre-registered limit).")
    round_ = Round(
        study_id=study.id,
        number=number,
        state=RoundState.DRAFT,
        created_at=now,
        deadline=deadline,
        message=dict(message or {}),
    )
    session.add(round_)
    session.flush()
    audit.record(
        session, action="round.create", now=now, actor=actor, study=study, target=f"round {number}"
    )
    return round_


def open_round(
    session: Session,
    round_: Round,
    *,
    actor: User | None,
    now: datetime,
    deadline: datetime | None = None,
) -> Round:
    """Open a draft round with the study's active items in their current wording."""
    study = session.get_one(Study, round_.study_id)
    active_items = [item for item in study.items if item.status == ItemStatus.ACTIVE]
    if not active_items:
        raise StateError("No active items are left to ask.")
    # a deadline given when the draft was made may have passed since
    check_deadline(deadline if deadline is not None else round_.deadline, now)
    if deadline is not None:
        round_.deadline = deadline
    round_.open(now)
    for position, item in enumerate(active_items):
        round_.items.append(
            RoundItem(item_id=item.id, item_version_id=item.current_version.id, position=position)
        )
    study.launch(now)
    session.flush()
    # the burden budget: experts without conditional pairs get theirs now, and keep them
    burden.assign_pairs(session, study, now)
    audit.record(
        session,
        action="round.open",
        now=now,
        actor=actor,
        study=study,
        target=f"round {round_.number}",
        items=len(active_items),
        deadline=round_.deadline.isoformat() if round_.deadline else None,
    )
    return round_


def set_deadline(
    session: Session, round_: Round, deadline: datetime | None, *, actor: User | None, now: datetime
) -> None:
    """Change the deadline shown to experts (draft or open rounds)."""
    if round_.state == RoundState.CLOSED:
        raise RoundStateError("The round is closed.")
    check_deadline(deadline, now)
    old = round_.deadline.isoformat() if round_.deadline else None
    round_.deadline = deadline
    session.flush()
    audit.record(
        session,
        action="round.deadline",
        now=now,
        actor=actor,
        study=session.get_one(Study, round_.study_id),
        target=f"round {round_.number}",
        old=old,
        new=deadline.isoformat() if deadline else None,
    )


def finish_study(session: Session, study: Study, *, actor: User | None, now: datetime) -> Study:
    """End a study: no round can be prepared or opened after this; results are final.

    Only the study's owners may (PermissionDeniedError). Refused while a round is open (close
    it first, so its snapshot is frozen); a round still in draft is left as it is and can no
    longer be opened.
    """
    require_owner(session, study, actor)
    if study.status == StudyStatus.FINISHED:
        raise StateError("This study is finished already.")
    last = latest_round(session, study)
    if last is not None and last.state == RoundState.OPEN:
        raise RoundStateError(f"Round {last.number} is open; close it before finishing the study.")
    study.finish(now)
    session.flush()
    audit.record(
        session,
        action="study.finish",
        now=now,
        actor=actor,
        study=study,
        target=study.key,
        rounds=last.number if last is not None else 0,
    )
    return study


#: the first key of the PostgreSQL advisory locks that order saves and closes of a round
ROUND_LOCK_SPACE = 7411


def lock_round(session: Session, round_: Round, *, exclusive: bool = False) -> Round:
    """Re-read the round's current state under a row lock, so closing and saving serialise.

    Saves take a shared lock (many experts save at once); closing takes an exclusive one,
    which waits for saves in flight and makes later saves see the round closed. On SQLite
    (no row locks) every write request already holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Row locks let a steady stream of shared lockers starve an exclusive one (a close
        # waited over a minute behind continuous saves); the lock manager queues advisory
        # locks fairly, so the close waits only for the saves already in flight.
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        session.execute(
            text(f"select {function}(:space, :round)"),
            {"space": ROUND_LOCK_SPACE, "round": round_.id},
        )
    # Refresh the round's columns only: re-loading the whole object (populate_existing) also
    # made every later use of round_.items re-read the round's items, versions and questions,
    # three times in a whole-round submit.
    if not exclusive:
        # every autosave takes this path: one plain SELECT ... FOR SHARE whose values become
        # the object's committed state, as a refresh would leave it, at a third of its cost
        row = (
            session.connection()
            .execute(_round_columns_for_share(), {"round": round_.id})
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError("The round no longer exists.")
        for key, value in row.items():
            set_committed_value(round_, key, value)
        return round_
    try:
        session.refresh(
            round_, attribute_names=_ROUND_COLUMNS, with_for_update={"read": not exclusive}
        )
    except ObjectDeletedError as error:
        raise NotFoundError("The round no longer exists.") from error
    return round_


#: the columns lock_round re-reads (state, dates, message), not the relationships
_ROUND_COLUMNS = [attribute.key for attribute in Round.__mapper__.column_attrs]


@functools.cache
def _round_columns_for_share() -> Select[Any]:
    """The round's columns under a shared row lock (built once, with a bound parameter)."""
    return (
        select(*(getattr(Round, key) for key in _ROUND_COLUMNS))
        .where(Round.id == bindparam("round"))
        .with_for_update(read=True)
    )


def close_round(session: Session, round_: Round, *, actor: User | None, now: datetime) -> Snapshot:
    """Close an open round and freeze its snapshot, in the caller's single transaction."""
    round_ = lock_round(session, round_, exclusive=True)
    round_.close(now)
    session.flush()
    snapshot = build_snapshot(session, round_, now=now)
    audit.record(
        session,
        action="round.close",
        now=now,
        actor=actor,
        study=session.get_one(Study, round_.study_id),
        target=f"round {round_.number}",
        answers=snapshot.answer_count,
    )
    return snapshot


def round_items(session: Session, round_: Round) -> list[RoundItem]:
    """The items a round asks, in order, with the versions it shows."""
    return list(round_.items)


def retire_item(
    session: Session, item: Item, *, reason: str, actor: User | None, now: datetime
) -> None:
    """Stop asking an item from the next round on (e.g. it reached consensus)."""
    last = latest_round(session, item.study)
    item.retire(last.number if last else 0, reason.strip() or "retired")
    session.flush()
    audit.record(
        session,
        action="item.retire",
        now=now,
        actor=actor,
        study=item.study,
        target=f"item {item.key}",
        reason=reason.strip() or None,
    )


def reinstate_item(session: Session, item: Item, *, actor: User | None, now: datetime) -> None:
    """Ask a retired item again from the next round on."""
    item.reinstate()
    session.flush()
    audit.record(
        session,
        action="item.reinstate",
        now=now,
        actor=actor,
        study=item.study,
        target=f"item {item.key}",
    )


def _next_round_number(session: Session, study: Study) -> int:
    """The number of the round a change made now first shows in."""
    last = latest_round(session, study)
    if last is None:
        return 1
    return last.number if last.state == RoundState.DRAFT else last.number + 1


def reword_item(
    session: Session,
    item: Item,
    *,
    title: dict[str, str],
    text: dict[str, str],
    change_note: dict[str, str],
    actor: User | None,
    now: datetime,
) -> ItemVersion:
    """Add a new wording. Rounds already open keep showing (and pointing answers to) the old one."""
    study = item.study
    if (
        not (title.get(study.default_language) or "").strip()
        or not (text.get(study.default_language) or "").strip()
    ):
        raise ValidationError(
            f"The title and text in {study.default_language} are needed.",
            {"title": ["Required."], "text": ["Required."]},
        )
    if not any(v.strip() for v in change_note.values()):
        raise ValidationError("Say what changed; experts are told.", {"change_note": ["Required."]})
    old = item.current_version
    version = ItemVersion(
        number=old.number + 1,
        title={k: v.strip() for k, v in title.items() if v.strip()},
        text={k: v.strip() for k, v in text.items() if v.strip()},
        change_note={k: v.strip() for k, v in change_note.items() if v.strip()},
        introduced_in_round=_next_round_number(session, study),
        created_at=now,
    )
    item.versions.append(version)
    session.flush()
    audit.record(
        session,
        action="item.reword",
        now=now,
        actor=actor,
        study=study,
        target=f"item {item.key}",
        old=old.title.get(study.default_language),
        new=version.title.get(study.default_language),
        version=version.number,
    )
    return version


def merge_items(
    session: Session,
    merged: Sequence[Item],
    into: Item,
    *,
    change_note: dict[str, str],
    actor: User | None,
    now: datetime,
) -> None:
    """Fold items into another one; they are no longer asked and experts are told why."""
    if not merged:
        raise ValidationError("Choose at least one item to merge.")
    for item in merged:
        if item.id == into.id:
            raise ValidationError("An item cannot be merged into itself.")
        if item.study_id != into.study_id:
            raise NotFoundError("No such item.")
        if not item.is_active:
            raise StateError(f"Item {item.key} is {item.status}.")
        if item.kind != into.kind:
            raise ValidationError(f"Item {item.key} is a {item.kind}, not a {into.kind}.")
    for item in merged:
        item.status = ItemStatus.MERGED
        item.merged_into_id = into.id
        item.retired_reason = f"merged into {into.key}"
    current = into.current_version
    reword_item(
        session,
        into,
        title=dict(current.title),
        text=dict(current.text),
        change_note=change_note,
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        action="item.merge",
        now=now,
        actor=actor,
        study=into.study,
        target=f"item {into.key}",
        merged=[item.key for item in merged],
    )


def add_item(
    session: Session,
    study: Study,
    *,
    key: str,
    title: dict[str, str],
    text: dict[str, str],
    like: Item,
    suggestion: Suggestion | None,
    actor: User | None,
    now: datetime,
) -> Item:
    """Add a new item (e.g. from a round-1 suggestion) asking the same questions as `like`."""
    key = key.strip()
    if not key or not key.replace("_", "").isalnum() or not key[0].isalpha() or len(key) > 32:
        raise ValidationError("Use a key of letters and digits, e.g. E25.", {"key": ["Invalid."]})
    if any(item.key == key for item in study.items):
        raise ValidationError(f"The key {key} is used already.", {"key": ["Already used."]})
    if (
        not (title.get(study.default_language) or "").strip()
        or not (text.get(study.default_language) or "").strip()
    ):
        raise ValidationError(
            f"The title and text in {study.default_language} are needed.",
            {"title": ["Required."], "text": ["Required."]},
        )
    item = Item(
        key=key,
        kind=like.kind,
        category_id=like.category_id,
        position=max((i.position for i in study.items), default=0) + 1,
        source="suggested by the panel" if suggestion else "added by the facilitators",
        unit={},
        baseline={},
        origin="suggestion" if suggestion else "facilitator",
    )
    item.versions.append(
        ItemVersion(
            number=1,
            title={k: v.strip() for k, v in title.items() if v.strip()},
            text={k: v.strip() for k, v in text.items() if v.strip()},
            change_note={},
            introduced_in_round=_next_round_number(session, study),
            created_at=now,
        )
    )
    for question in like.questions:
        config: dict[str, Any] = dict(question.config)
        item.questions.append(
            Question(
                key=question.key,
                kind=question.kind,
                position=question.position,
                scale_id=question.scale_id,
                prompt=dict(question.prompt),
                help=dict(question.help),
                required=question.required,
                allow_no_answer=question.allow_no_answer,
                config=config,
                from_round=question.from_round,
            )
        )
    study.items.append(item)
    session.flush()
    if suggestion is not None:
        suggestion.status = "accepted"
        suggestion.item_id = item.id
    audit.record(
        session,
        action="item.add",
        now=now,
        actor=actor,
        study=study,
        target=f"item {key}",
        from_suggestion=suggestion.id if suggestion else None,
    )
    return item


def item_for(session: Session, study: Study, item_id: int) -> Item:
    """An item of this study, or NotFoundError."""
    item = session.get(Item, item_id)
    if item is None or item.study_id != study.id:
        raise NotFoundError("No such item.")
    return item


def changes_since_previous(session: Session, round_: Round) -> list[tuple[Item, ItemVersion]]:
    """Items whose wording changed for this round (new version), with the version shown."""
    changed: list[tuple[Item, ItemVersion]] = []
    for round_item in round_.items:
        version = round_item.version
        if version.number > 1 and version.introduced_in_round == round_.number:
            changed.append((round_item.item, version))
    return changed


def new_items_in(round_: Round) -> list[Item]:
    """Items asked for the first time in this round after round 1."""
    if round_.number == 1:
        return []
    return [
        ri.item
        for ri in round_.items
        if ri.version.number == 1 and ri.version.introduced_in_round == round_.number
    ]


def suggestion_for(session: Session, study: Study, suggestion_id: int) -> Suggestion:
    """A suggestion made in this study, or NotFoundError."""
    found = session.get(Suggestion, suggestion_id)
    if found is None or found.study_id != study.id:
        raise NotFoundError("No such suggestion.")
    return found


def decline_suggestion(
    session: Session, suggestion: Suggestion, *, actor: User | None, now: datetime
) -> None:
    """Mark a new suggestion as declined (it stays listed, and is never linked to anyone)."""
    if suggestion.status != "new":
        raise StateError(f"This suggestion is {suggestion.status} already.")
    suggestion.status = "declined"
    session.flush()
    audit.record(
        session,
        action="suggestion.decline",
        now=now,
        actor=actor,
        study=session.get_one(Study, suggestion.study_id),
        target=f"suggestion {suggestion.id}",
    )
