"""The linkage model in code: what an export may say about each pseudonym (docs/anonymity.md).

Facilitators see people by name on the panel (with their group) and, in exports, answers by
pseudonym. Whatever both sides show is a key an attacker can join them on, so in an anonymous
study every export is cut so that each such join leaves at least k pseudonyms per person:

- only closed rounds leave the platform (an open round's rows would show who started);
- no expert-side date, language, status or consent leaves at all (see the exports);
- a group is shown only when at least k pseudonyms carry it (and the blank ones hold k together);
- the rounds a pseudonym answered (its participation pattern) is shared by at least k pseudonyms
  of the same shown group; a pseudonym in a smaller class first loses its group, then its latest
  rounds, until its class holds k (or it has no rounds left).

`protect` is the pure rule; `disclosure` applies it to a study. The result is a fixed point, so
an archive written from it and imported elsewhere exports the same bytes again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Answer, Participation, Round, RoundState, Study
from app.services.snapshots import suppressed_groups

#: a class of pseudonyms: the group an export shows and the rounds it shows them in
ClassKey = tuple[str, frozenset[int]]


@dataclass(frozen=True)
class Disclosure:
    """What the exports of one study may show, per participation and round."""

    #: the anonymous study's rules apply (closed rounds only, classes of at least k)
    protected: bool
    #: round id -> round number, for the rounds whose answers may leave
    rounds: Mapping[int, int]
    #: participation id -> the group an export shows ("" when left blank)
    groups: Mapping[int, str]
    #: participation id -> the round numbers whose answers may leave (None: all of `rounds`)
    kept: Mapping[int, frozenset[int]] | None = None
    #: pseudonyms some of whose answered rounds were left out to keep their class at k
    coarsened: int = 0

    def group(self, participation_id: int) -> str:
        """The group an export shows for this participation."""
        return self.groups.get(participation_id, "")

    def keeps(self, participation_id: int, round_id: int) -> bool:
        """Whether this participation's answers in this round may leave the platform."""
        number = self.rounds.get(round_id)
        if number is None:
            return False
        return self.kept is None or number in self.kept.get(participation_id, frozenset())


def equivalence_classes(
    groups: Mapping[int, str], patterns: Mapping[int, frozenset[int]]
) -> dict[ClassKey, list[int]]:
    """Participations with data, by (shown group, rounds with data)."""
    classes: dict[ClassKey, list[int]] = defaultdict(list)
    for participation, rounds in patterns.items():
        if rounds:
            classes[(groups.get(participation, ""), rounds)].append(participation)
    return dict(classes)


def protect(
    groups: Mapping[int, str], patterns: Mapping[int, frozenset[int]], k: int
) -> tuple[dict[int, str], dict[int, frozenset[int]]]:
    """Shown groups and kept rounds such that every class of pseudonyms with data holds k.

    `groups` names every participation (with its real group), `patterns` the rounds each one
    has answers in. Groups are blanked first (whole groups under k, then pseudonyms whose class
    in their group is under k); then the smallest-class patterns lose their latest round.
    """
    shown = {participation: group or "" for participation, group in groups.items()}
    kept = {participation: patterns.get(participation, frozenset()) for participation in groups}
    while True:
        hidden = suppressed_groups(Counter(shown.values()), k) - {""}
        if hidden:
            shown = {p: "" if group in hidden else group for p, group in shown.items()}
            continue
        small = {
            key: members
            for key, members in equivalence_classes(shown, kept).items()
            if len(members) < k
        }
        if not small:
            return shown, kept
        named = [key for key in small if key[0]]
        if named:
            for key in named:
                for participation in small[key]:
                    shown[participation] = ""
            continue
        key = max(small, key=lambda found: (len(found[1]), sorted(found[1])))
        fewer = key[1] - {max(key[1])}
        for participation in small[key]:
            kept[participation] = fewer


def disclosure(session: Session, study: Study, *, identified: bool = False) -> Disclosure:
    """What this study's exports may show (identified: a confidential study's admin export)."""
    rounds = session.execute(
        select(Round.id, Round.number, Round.state).where(Round.study_id == study.id)
    ).all()
    members = {
        participation: group or ""
        for participation, group in session.execute(
            select(Participation.id, Participation.group).where(Participation.study_id == study.id)
        ).tuples()
    }
    every_round = {r.id: r.number for r in rounds}
    if identified:
        return Disclosure(protected=False, rounds=every_round, groups=members)
    if not study.is_anonymous:
        # confidential studies: facilitators may link (administrators, audited), so only the
        # rule for aggregates applies: groups under k stay blank
        hidden = suppressed_groups(Counter(members.values()), study.k)
        return Disclosure(
            protected=False,
            rounds=every_round,
            groups={p: "" if g in hidden else g for p, g in members.items()},
        )
    closed = {r.id: r.number for r in rounds if r.state == RoundState.CLOSED}
    found: dict[int, set[int]] = defaultdict(set)
    if closed:
        for participation, round_id in session.execute(
            select(Answer.participation_id, Answer.round_id)
            .where(Answer.round_id.in_(closed))
            .distinct()
        ).tuples():
            found[participation].add(closed[round_id])
    patterns = {p: frozenset(numbers) for p, numbers in found.items()}
    shown, kept = protect(members, patterns, study.k)
    coarsened = sum(1 for p, numbers in patterns.items() if kept.get(p, frozenset()) != numbers)
    return Disclosure(protected=True, rounds=closed, groups=shown, kept=kept, coarsened=coarsened)
