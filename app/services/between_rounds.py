"""Between rounds: what closing a round now would withhold under k, and raising the round limit.

A close is irreversible, and a round closed with too few answers shows "fewer than k answers"
in every later view. `close_preview` computes the snapshot the close would freeze (a pure read,
the same computation the close runs) and says which items and groups it would withhold, so the
facilitator can extend the deadline instead. `raise_round_limit` lets owners hold more rounds
than the survey pre-registered; the change is audited with its reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.definitions.vocabulary import MAX_ROUNDS
from app.messages import N_
from app.models import Round, RoundState, StateError, Study, StudyStatus, User, ValidationError
from app.services import audit
from app.services.snapshots import compute_snapshot
from app.services.studies import require_owner


@dataclass(frozen=True)
class ClosePreview:
    """What a round's snapshot would withhold if it closed now (counts, never who answered)."""

    round_number: int
    k: int
    #: experts who answered at least one rated question of the round
    respondents: int
    #: items of the round with at least one rated question
    rated_items: int
    #: keys of the items whose figures would all be withheld (fewer than k answered them)
    withheld_items: tuple[str, ...]
    #: keys of the items shown in part: some of their questions have fewer than k answers
    partly_withheld_items: tuple[str, ...]
    #: group -> how many items' figures would be withheld for that group
    withheld_groups: dict[str, int]

    @property
    def withholds_anything(self) -> bool:
        """Whether any figure of the round, overall or of a group, would be withheld."""
        return bool(self.needs_confirmation or self.partly_withheld_items or self.withheld_groups)

    @property
    def needs_confirmation(self) -> bool:
        """Whether the close is under k: fewer than k respondents, or whole items withheld
        (then the facilitator types the round number to close it anyway)."""
        return self.respondents < self.k or bool(self.withheld_items)


def close_preview(session: Session, round_: Round) -> ClosePreview:
    """What closing this open round now would withhold: items and groups under k."""
    study = session.get_one(Study, round_.study_id)
    # the preview shows no reasons, so their shuffle needs no secure randomness
    data = compute_snapshot(session, study, round_, rng=random.Random(0))  # noqa: S311
    withheld: list[str] = []
    partly: list[str] = []
    groups: dict[str, int] = {}
    rated = 0
    for key, item in data.items.items():
        parts = [part for question in item.questions.values() for part in question.parts.values()]
        if not parts:
            continue  # free text only: nothing is counted
        rated += 1
        hidden = [part for part in parts if part.suppressed]
        if len(hidden) == len(parts):
            withheld.append(key)
            continue
        if hidden:
            partly.append(key)
        hidden_groups = {
            group
            for part in parts
            if part.groups is not None
            for group, share in part.groups.items()
            if share.suppressed
        }
        for group in hidden_groups:
            groups[group] = groups.get(group, 0) + 1
    return ClosePreview(
        round_number=round_.number,
        k=study.k,
        respondents=data.respondents,
        rated_items=rated,
        withheld_items=tuple(withheld),
        partly_withheld_items=tuple(partly),
        withheld_groups=dict(sorted(groups.items())),
    )


def confirms_close(typed: str, round_: Round) -> bool:
    """Whether the typed confirmation names the round (its number, or the word "close")."""
    text = typed.strip().lower()
    return text in (str(round_.number), "close")


def raise_round_limit(
    session: Session,
    study: Study,
    new_limit: int,
    *,
    reason: str,
    actor: User | None,
    now: datetime,
) -> Study:
    """Allow more rounds than the survey pre-registered (owners only; audited with the reason).

    Only ever raised here: the limit a report states as pre-registered stays the survey's.
    """
    require_owner(session, study, actor)
    if study.status == StudyStatus.FINISHED:
        raise StateError(N_("The study is finished; no round can be added."))
    reason = reason.strip()
    if not reason:
        message = N_("Say why more rounds are needed; the reason is recorded.")
        raise ValidationError(message, {"reason": [message]})
    if not study.round_limit < new_limit <= MAX_ROUNDS:
        message = N_(
            "The new limit must be above %(old)s and at most %(max)s rounds.",
            old=study.round_limit,
            max=MAX_ROUNDS,
        )
        raise ValidationError(message, {"limit": [message]})
    old = study.round_limit
    study.round_limit = new_limit
    session.flush()
    audit.record(
        session,
        action="study.round_limit",
        now=now,
        actor=actor,
        study=study,
        target=study.key,
        old=old,
        new=new_limit,
        reason=reason,
    )
    return study


def held_all_rounds(study: Study, rounds: list[Round]) -> bool:
    """Whether every round the limit allows has been held and closed (the limit blocks a next)."""
    return (
        study.status != StudyStatus.FINISHED
        and len(rounds) >= study.round_limit
        and all(r.state == RoundState.CLOSED for r in rounds)
    )
