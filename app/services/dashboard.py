"""What facilitators look at: response funnels, the panel's state, items between rounds, the team.

Read-only views over the panel and rounds. They count people and their progress (needed to
run a study and send reminders) but never read answers; statistics come only from the
frozen, k-suppressed snapshots.

In an anonymous study the named side stays coarse (docs/anonymity.md): the panel shows no
one's progress, activity dates, reminders or link counts (those would tell who answered when,
a key to join with the exports); progress is counted per group, and groups under k are counted
together, in the panel and in every funnel.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from analysis.snapshot import ItemSummary
from app.models import (
    AccessLink,
    Expert,
    ExpertSession,
    Item,
    Participation,
    ParticipationStatus,
    Round,
    RoundProgress,
    RoundState,
    Snapshot,
    Study,
    StudyMember,
    Suggestion,
    User,
)
from app.services.outbox import Delivery, delivery
from app.services.rounds import rounds_of
from app.services.schedule import ScheduleView, schedule_view
from app.services.snapshots import suppressed_groups

#: the funnel's stages, in order; each counts those who reached at least that stage
STAGES = ("invited", "opened", "consented", "started", "submitted")
#: the label of the row counting an anonymous study's groups under k together
MERGED_GROUPS = "(groups under k)"


def percent(part: int, whole: int) -> int:
    """`part` as a whole percentage of `whole` (0 when `whole` is 0)."""
    return round(100 * part / whole) if whole else 0


def bar_width(part: int, whole: int) -> int:
    """The share rounded to a 5 % step, for the `.w-0` .. `.w-100` width classes."""
    return 5 * round(20 * part / whole) if whole else 0


@dataclass(frozen=True)
class Stage:
    """One stage of a funnel row."""

    key: str
    count: int
    percent: int  #: of those invited
    width: int  #: percent rounded to 5, for the bar


@dataclass(frozen=True)
class FunnelRow:
    """Counts per stage for the whole panel (label "") or one group."""

    label: str
    invited: int
    opened: int
    consented: int
    started: int
    submitted: int
    merged: bool = False  #: the groups under k of an anonymous study, counted together

    @functools.cached_property
    def stages(self) -> list[Stage]:
        """The stages with counts, percentages of those invited, and bar widths (computed
        once: a dashboard's tables read them several times per row)."""
        counts = (self.invited, self.opened, self.consented, self.started, self.submitted)
        return [
            Stage(key, n, percent(n, self.invited), bar_width(n, self.invited))
            for key, n in zip(STAGES, counts, strict=True)
        ]

    @property
    def response_rate(self) -> int:
        """Submitted as a percentage of those invited."""
        return percent(self.submitted, self.invited)


@dataclass(frozen=True)
class RoundFunnel:
    """The funnel of one round: the whole panel and each group."""

    number: int
    state: str
    opened_at: datetime | None
    deadline: datetime | None
    closed_at: datetime | None
    total: FunnelRow
    groups: list[FunnelRow]


@dataclass(frozen=True)
class Funnel:
    """A study's response funnels: the panel before any round, then each round."""

    panel_size: int  #: members not withdrawn (the funnel's "invited")
    withdrawn: int
    never_emailed: int  #: members not withdrawn who were never sent an invitation email
    panel: FunnelRow  #: opened and consented so far (no round stages)
    panel_groups: list[FunnelRow]
    rounds: list[RoundFunnel]

    @property
    def open_round(self) -> RoundFunnel | None:
        """The open round's funnel, if a round is open."""
        return next((r for r in self.rounds if r.state == RoundState.OPEN), None)

    @property
    def latest(self) -> RoundFunnel | None:
        """The most recent round's funnel."""
        return self.rounds[-1] if self.rounds else None


#: one group's counts per stage: invited, opened, consented, started, submitted
_Counts = tuple[int, int, int, int, int]


def _sum(counts: Iterable[_Counts]) -> _Counts:
    """Stage counts added up (the groups are disjoint)."""
    total = [0, 0, 0, 0, 0]
    for row in counts:
        for index, n in enumerate(row):
            total[index] += n
    return (total[0], total[1], total[2], total[3], total[4])


def _rows(by_group: Mapping[str, _Counts], hidden: set[str]) -> list[FunnelRow]:
    """One funnel row per group, groups in alphabetical order; the `hidden` groups (under k,
    in an anonymous study) in one row at the end."""
    rows = [FunnelRow(name, *by_group[name]) for name in sorted(set(by_group) - hidden)]
    together = [by_group[name] for name in sorted(hidden) if name in by_group]
    if together:
        rows.append(FunnelRow(MERGED_GROUPS, *_sum(together), merged=True))
    return rows


def _flag(condition: Any) -> Any:
    """1 where the condition holds, else 0 (to be summed)."""
    return func.sum(case((condition, 1), else_=0))


def _members(study: Study) -> Any:
    """The study's members not withdrawn, with whether each opened a link and consented
    (a subquery: the funnel is counted by the database, not row by row here)."""
    # uncorrelated IN lists: the database reads each once into a hash and probes it per
    # member, where a correlated EXISTS ran an index scan per member (and per round)
    link_used = Participation.id.in_(
        select(AccessLink.participation_id).where(AccessLink.last_used_at.is_not(None))
    )
    has_session = Participation.id.in_(select(ExpertSession.participation_id))
    return (
        select(
            Participation.id.label("id"),
            func.coalesce(Participation.group, "").label("grp"),
            or_(link_used, has_session).label("opened"),
            Participation.consent_at.is_not(None).label("consented"),
        )
        .where(
            Participation.study_id == study.id,
            Participation.status != ParticipationStatus.WITHDRAWN,
        )
        .subquery()
    )


def hidden_groups(study: Study, sizes: Mapping[str, int]) -> set[str]:
    """Groups a facilitator of an anonymous study sees only together: those under k, and
    the smallest others until the together-row holds k (none in confidential studies)."""
    if not study.is_anonymous or len(sizes) < 2:
        return set()
    return suppressed_groups(sizes, study.k)


def funnel(session: Session, study: Study) -> Funnel:
    """The response funnel per round and per group: invited -> opened the link -> consented ->
    started the round -> submitted. Withdrawn experts are counted apart, not in the funnel.

    Stages are cumulative (a later stage implies the earlier ones). The database counts them
    per group and round, so a request costs a few aggregate queries whatever the panel's size.
    """
    withdrawn, never_emailed = session.execute(
        select(
            _flag(Participation.status == ParticipationStatus.WITHDRAWN),
            _flag(
                (Participation.status != ParticipationStatus.WITHDRAWN)
                & Participation.invited_at.is_(None)
            ),
        ).where(Participation.study_id == study.id)
    ).one()
    members = _members(study)
    # the panel before any round: "started" is having started any round
    any_progress = members.c.id.in_(
        select(RoundProgress.participation_id)
        .join(Round, Round.id == RoundProgress.round_id)
        .where(Round.study_id == study.id)
    )
    panel_counts: dict[str, _Counts] = {}
    for grp, invited, opened, consented, started in session.execute(
        select(
            members.c.grp,
            func.count(),
            _flag(members.c.opened | members.c.consented | any_progress),
            _flag(members.c.consented | any_progress),
            _flag(any_progress),
        ).group_by(members.c.grp)
    ).tuples():
        panel_counts[grp] = (
            int(invited),
            int(opened or 0),
            int(consented or 0),
            int(started or 0),
            0,
        )
    hidden = hidden_groups(study, {g: c[0] for g, c in panel_counts.items()})
    study_rounds = rounds_of(session, study)
    per_round: dict[int, dict[str, _Counts]] = defaultdict(dict)
    if study_rounds and panel_counts:
        progress = RoundProgress.__table__.alias("progress")
        started_ = progress.c.participation_id.is_not(None)
        submitted_ = progress.c.submitted_at.is_not(None)
        query = (
            select(
                Round.id,
                members.c.grp,
                func.count(),
                _flag(members.c.opened | members.c.consented | started_),
                _flag(members.c.consented | started_),
                _flag(started_),
                _flag(submitted_),
            )
            .select_from(members)
            .join(Round, Round.study_id == study.id)
            .outerjoin(
                progress,
                (progress.c.participation_id == members.c.id) & (progress.c.round_id == Round.id),
            )
            .group_by(Round.id, members.c.grp)
        )
        for round_id, grp, *counts in session.execute(query).tuples():
            invited, opened, consented, started, submitted = (int(n or 0) for n in counts)
            per_round[round_id][grp] = (invited, opened, consented, started, submitted)
    empty = {g: (c[0], 0, 0, 0, 0) for g, c in panel_counts.items()}
    round_funnels = [
        RoundFunnel(
            number=r.number,
            state=r.state,
            opened_at=r.opened_at,
            deadline=r.deadline,
            closed_at=r.closed_at,
            total=FunnelRow("", *_sum(per_round.get(r.id, empty).values())),
            groups=_rows(per_round.get(r.id, empty), hidden),
        )
        for r in study_rounds
    ]
    panel_total = _sum(panel_counts.values())
    return Funnel(
        panel_size=panel_total[0],
        withdrawn=int(withdrawn or 0),
        never_emailed=int(never_emailed or 0),
        panel=FunnelRow("", *panel_total),
        panel_groups=_rows(panel_counts, hidden),
        rounds=round_funnels,
    )


def pending_count(session: Session, study: Study, round_: Round) -> int:
    """How many members (not withdrawn) have not submitted the round, counted by the database
    (the dashboard shows the number; the reminder pages list the people)."""
    submitted = select(RoundProgress.participation_id).where(
        RoundProgress.round_id == round_.id, RoundProgress.submitted_at.is_not(None)
    )
    return int(
        session.scalar(
            select(func.count()).where(
                Participation.study_id == study.id,
                Participation.status != ParticipationStatus.WITHDRAWN,
                Participation.id.not_in(submitted),
            )
        )
        or 0
    )


@dataclass(frozen=True)
class StudyOverview:
    """One line of the studies list."""

    study: Study
    rounds: int
    panel_size: int
    open_round: int | None
    submitted: int  #: in the open round

    @property
    def response_rate(self) -> int | None:
        """Submitted in the open round as a percentage of the panel (None without open round)."""
        return percent(self.submitted, self.panel_size) if self.open_round is not None else None


def overview(session: Session, studies: Iterable[Study]) -> list[StudyOverview]:
    """Rounds, panel size and the open round's response for each study."""
    result = []
    for study in studies:
        rounds = rounds_of(session, study)
        open_round = next((r for r in rounds if r.state == RoundState.OPEN), None)
        panel_size = session.scalar(
            select(func.count())
            .select_from(Participation)
            .where(
                Participation.study_id == study.id,
                Participation.status != ParticipationStatus.WITHDRAWN,
            )
        )
        submitted = 0
        if open_round is not None:
            submitted = (
                session.scalar(
                    select(func.count())
                    .select_from(RoundProgress)
                    .join(Participation, Participation.id == RoundProgress.participation_id)
                    .where(
                        RoundProgress.round_id == open_round.id,
                        RoundProgress.submitted_at.is_not(None),
                        Participation.status != ParticipationStatus.WITHDRAWN,
                    )
                )
                or 0
            )
        result.append(
            StudyOverview(
                study=study,
                rounds=len(rounds),
                panel_size=panel_size or 0,
                open_round=open_round.number if open_round is not None else None,
                submitted=submitted,
            )
        )
    return result


@dataclass(frozen=True)
class PanelRow:
    """One panel member as the panel page shows them (never their answers)."""

    participation: Participation
    name: str
    email: str
    links_active: int
    links_total: int
    last_entered_at: datetime | None  #: last time a link of theirs was used
    progress: str | None  #: in the open round: "not started" | "started" | "submitted"
    #: an anonymous study's row: no progress, activity dates, reminders or link counts
    coarse: bool = False

    @property
    def link_state(self) -> str:
        """ "withdrawn", "active" (a link works), "revoked" (all revoked) or "none"."""
        if self.participation.status == ParticipationStatus.WITHDRAWN:
            return "withdrawn"
        if self.links_active:
            return "active"
        return "revoked" if self.links_total else "none"


def panel_rows(session: Session, study: Study, open_round: Round | None) -> list[PanelRow]:
    """The panel with identities, link state and progress in the open round, by group and name.

    In an anonymous study the rows are coarse: no progress and no date of link use (each
    would tell who answered, and when); see `submitted_by_group` for counts instead.
    """
    coarse = study.is_anonymous
    participations = session.scalars(
        select(Participation)
        .where(Participation.study_id == study.id)
        .join(Expert, Expert.id == Participation.expert_id)
        .options(joinedload(Participation.expert), selectinload(Participation.links))
        .order_by(Participation.group, Participation.name, Participation.pseudonym)
    ).all()
    progress: dict[int, RoundProgress] = {}
    if open_round is not None:
        progress = {
            p.participation_id: p
            for p in session.scalars(
                select(RoundProgress).where(RoundProgress.round_id == open_round.id)
            )
        }
    rows = []
    for participation in participations:
        used = [link.last_used_at for link in participation.links if link.last_used_at]
        state = None
        if open_round is not None and not coarse:
            row = progress.get(participation.id)
            state = (
                "not started"
                if row is None
                else "submitted"
                if row.submitted_at is not None
                else "started"
            )
        rows.append(
            PanelRow(
                participation=participation,
                name=participation.name,
                email=participation.expert.email,
                links_active=sum(1 for link in participation.links if link.revoked_at is None),
                links_total=len(participation.links),
                last_entered_at=max(used) if used and not coarse else None,
                progress=state,
                coarse=coarse,
            )
        )
    return rows


@dataclass(frozen=True)
class GroupProgress:
    """How many of a group (not withdrawn) have submitted a round, and how many have not."""

    label: str
    members: int
    submitted: int
    merged: bool = False  #: the groups under k, counted together

    @property
    def pending(self) -> int:
        """Members who have not submitted."""
        return self.members - self.submitted


def submitted_by_group(session: Session, study: Study, round_: Round) -> list[GroupProgress]:
    """Submitted and not submitted per group (groups under k of an anonymous study together).

    What the panel page of an anonymous study shows instead of each expert's progress: the
    server still knows who has not submitted, and reminds them (invitations.queue_reminders).
    """
    members = session.execute(
        select(Participation.id, Participation.group).where(
            Participation.study_id == study.id,
            Participation.status != ParticipationStatus.WITHDRAWN,
        )
    ).all()
    done = set(
        session.scalars(
            select(RoundProgress.participation_id).where(
                RoundProgress.round_id == round_.id, RoundProgress.submitted_at.is_not(None)
            )
        )
    )
    sizes = Counter(group or "" for _id, group in members)
    hidden = hidden_groups(study, sizes)
    # keyed by (counted together?, group): a group may be called anything, even MERGED_GROUPS
    counts: dict[tuple[bool, str], list[int]] = defaultdict(lambda: [0, 0])
    for participation_id, group in members:
        together = (group or "") in hidden
        key = (together, MERGED_GROUPS if together else group or "")
        counts[key][0] += 1
        counts[key][1] += participation_id in done
    rows = [
        GroupProgress(label, n, submitted, merged=together)
        for (together, label), (n, submitted) in sorted(counts.items())
    ]
    return rows


@dataclass(frozen=True)
class Verdict:
    """The frozen consensus verdict of one rated question part in a closed round."""

    question: str
    part: str
    reached: bool | None  #: None when undefined or suppressed
    suppressed: bool  #: fewer than k answers: nothing is shown
    n: int | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    rule: str = ""
    presets: dict[str, bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemRow:
    """One item between rounds: status, wording version and last closed round's verdicts."""

    item: Item
    version: int
    asked_last: bool  #: asked in the last closed round
    respondents: int | None  #: in the last closed round (None when under k)
    verdicts: list[Verdict]

    @property
    def by_question(self) -> list[tuple[str, list[Verdict]]]:
        """The verdicts grouped by question, in the snapshot's order."""
        groups: dict[str, list[Verdict]] = {}
        for verdict in self.verdicts:
            groups.setdefault(verdict.question, []).append(verdict)
        return list(groups.items())

    @property
    def consensus(self) -> str:
        """ "reached" (every verdict), "partial", "not reached" or "unknown"."""
        known = [v.reached for v in self.verdicts if v.reached is not None]
        if not known:
            return "unknown"
        if all(known):
            return "reached" if len(known) == len(self.verdicts) else "partial"
        return "partial" if any(known) else "not reached"


def _as_float(value: Any) -> float | None:
    """A number from snapshot data, or None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _as_bool(value: Any) -> bool | None:
    """A truth value from snapshot data, or None."""
    return value if isinstance(value, bool) else None


def verdicts_of(item_data: ItemSummary | None) -> list[Verdict]:
    """The consensus verdicts in one item's snapshot entry (the typed snapshot has checked its
    shape; parts without a consensus rule, such as quantiles, give none)."""
    verdicts: list[Verdict] = []
    if item_data is None:
        return verdicts
    for question_key, question in item_data.questions.items():
        for part_key, part in question.parts.items():
            if part.suppressed:
                verdicts.append(Verdict(question_key, part_key, None, True))
                continue
            consensus = part.consensus
            if consensus is None:
                continue  # parts without a consensus rule (quantiles, impact profiles)
            verdicts.append(
                Verdict(
                    question=question_key,
                    part=part_key,
                    reached=consensus.reached,
                    suppressed=False,
                    n=part.n,
                    median=_as_float(part.stat("median")),
                    q1=_as_float(part.stat("q1")),
                    q3=_as_float(part.stat("q3")),
                    rule=consensus.rule,
                    presets=dict(consensus.presets),
                )
            )
    return verdicts


@dataclass(frozen=True)
class ItemsOverview:
    """The items page: every item, with the last closed round's verdicts where there are any."""

    last_closed: Round | None
    rows: list[ItemRow]


def items_overview(session: Session, study: Study) -> ItemsOverview:
    """Items with status, version and consensus verdicts from the last closed round's snapshot."""
    closed = [r for r in rounds_of(session, study) if r.state == RoundState.CLOSED]
    last = closed[-1] if closed else None
    data: Mapping[str, ItemSummary] = {}
    asked: set[int] = set()
    if last is not None:
        snapshot = session.scalar(select(Snapshot).where(Snapshot.round_id == last.id))
        data = snapshot.content.items if snapshot is not None else {}
        asked = {ri.item_id for ri in last.items}
    rows = []
    for item in study.items:
        entry = data.get(item.key)
        rows.append(
            ItemRow(
                item=item,
                version=item.current_version.number,
                asked_last=item.id in asked,
                respondents=entry.respondents if entry is not None else None,
                verdicts=verdicts_of(entry) if item.id in asked else [],
            )
        )
    return ItemsOverview(last_closed=last, rows=rows)


def suggestions_of(session: Session, study: Study) -> list[Suggestion]:
    """The experts' suggestions of new items (not linked to anyone), oldest first."""
    return list(
        session.scalars(
            select(Suggestion)
            .where(Suggestion.study_id == study.id)
            .order_by(Suggestion.created_at, Suggestion.id)
        )
    )


def team(session: Session, study: Study) -> list[tuple[User, str]]:
    """The study's facilitators with their roles, owners first."""
    rows = session.execute(
        select(User, StudyMember.role)
        .join(StudyMember, StudyMember.user_id == User.id)
        .where(StudyMember.study_id == study.id)
        .order_by(StudyMember.role.desc(), User.name)
    ).all()
    return [(user, str(role)) for user, role in rows]


def user_by_email(session: Session, email: str) -> User | None:
    """The active account with this email, if any."""
    return session.scalar(
        select(User).where(User.email == (email or "").strip().lower(), User.is_active.is_(True))
    )


def all_users(session: Session) -> list[User]:
    """Every account, by email (for administrators)."""
    return list(session.scalars(select(User).order_by(User.email)))


# --- email and schedule ----------------------------------------------------------------------


@dataclass(frozen=True)
class EmailAndSchedule:
    """The dashboard's "Email and schedule" card: planned and done reminders, closing at the
    deadline (or why not), and the outbox's counts."""

    view: ScheduleView
    delivery: Delivery


def email_and_schedule(session: Session, study: Study, *, now: datetime) -> EmailAndSchedule:
    """What the study's emails and schedule did and will do."""
    return EmailAndSchedule(schedule_view(session, study, now=now), delivery(session, study))
