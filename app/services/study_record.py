"""The study record: what the authors write (edited by the facilitators, seeded from the survey
file's `[record]`) and what the platform measures itself (reminders, item non-response,
attrition and its bias, suggestions). The report prints both and checks them against CREDES and
DELPHISTAR (`app.services.reporting_checklist`).

Everything measured here is a count or a test over the panel, never who did what.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis.stability import attrition
from app.definitions.model import ItemKind
from app.definitions.record import RECORD_FIELDS
from app.definitions.vocabulary import MAX_TEXT_LENGTH
from app.models import Participation, Round, RoundState, Study, User, ValidationError
from app.models.answers import Suggestion
from app.services import audit
from app.services.result_inputs import probability_question
from app.services.tidy import tidy_answers, tidy_row_answers

#: control characters other than tab and line feed (as survey files refuse them)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: the significance level of the attrition test (two-sided Mann-Whitney U)
ATTRITION_ALPHA = 0.05


def record_texts(study: Study) -> dict[str, dict[str, str]]:
    """The record as it stands: the facilitators' edits, else the survey file's `[record]`."""
    if study.record is not None:
        stored: dict[str, dict[str, str]] = study.record
        return {name: dict(stored[name]) for name in RECORD_FIELDS if stored.get(name)}
    from_file = (study.definition or {}).get("record") or {}
    return {name: dict(from_file[name]) for name in RECORD_FIELDS if from_file.get(name)}


def save_record(
    session: Session,
    study: Study,
    texts: Mapping[str, Mapping[str, str]],
    *,
    actor: User | None,
    now: datetime,
) -> dict[str, dict[str, str]]:
    """Replace the study record (field -> language -> text); empty texts are dropped."""
    errors: dict[str, list[Any]] = {}
    cleaned: dict[str, dict[str, str]] = {}
    for name, by_language in texts.items():
        if name not in RECORD_FIELDS:
            errors.setdefault(name, []).append(f"Unknown field of the study record: {name[:40]}")
            continue
        for language, raw in by_language.items():
            where = f"{name}.{language}"
            if language not in study.languages:
                errors.setdefault(where, []).append("Not one of the study's languages.")
                continue
            value = raw.replace("\r\n", "\n").strip()
            if len(value) > MAX_TEXT_LENGTH:
                errors.setdefault(where, []).append(
                    f"At most {MAX_TEXT_LENGTH:,} characters are allowed."
                )
            elif _CONTROL.search(value):
                errors.setdefault(where, []).append("Control characters are not allowed.")
            elif value:
                cleaned.setdefault(name, {})[language] = value
    if errors:
        raise ValidationError("The study record has errors; nothing was saved.", errors)
    ordered = {name: cleaned[name] for name in RECORD_FIELDS if name in cleaned}
    old = record_texts(study)
    study.record = ordered
    session.flush()
    audit.record(
        session,
        action="study.record",
        now=now,
        actor=actor,
        study=study,
        target=f"study {study.key}",
        changed=sorted(k for k in set(old) | set(ordered) if old.get(k) != ordered.get(k)),
    )
    return ordered


@dataclass(frozen=True)
class ItemNonResponse:
    """How many of a round's respondents left an item unanswered (counts only)."""

    round: int
    item: str
    respondents: int  #: experts who answered anything in the round
    answered: int  #: gave at least one value on the item
    outside_expertise: int  #: chose "no answer / outside my expertise" on every question
    missing: int  #: left the item blank

    @property
    def rate(self) -> float | None:
        """Share of respondents who gave no value (blank or outside their expertise)."""
        if not self.respondents:
            return None
        return (self.respondents - self.answered) / self.respondents


@dataclass(frozen=True)
class AttritionTest:
    """Did the experts who left after a round answer an event's probability differently?"""

    round: int  #: the round they left before
    item: str
    n_stayed: int
    n_left: int
    median_stayed: float | None
    median_left: float | None
    p: float | None

    @property
    def biased(self) -> bool:
        """Whether the test finds a difference at ATTRITION_ALPHA."""
        return self.p is not None and self.p < ATTRITION_ALPHA


@dataclass(frozen=True)
class MeasuredRecord:
    """What the platform knows of a study's conduct, for the record and the checklist."""

    reminders_sent: int
    experts_reminded: int
    suggestions_received: int
    suggestions_accepted: int
    suggestions_declined: int
    non_response: tuple[ItemNonResponse, ...]
    attrition: tuple[AttritionTest, ...]

    @property
    def attrition_flagged(self) -> tuple[AttritionTest, ...]:
        """The tests that found leavers answering differently."""
        return tuple(t for t in self.attrition if t.biased)

    def worst_non_response(self, limit: int = 5) -> tuple[ItemNonResponse, ...]:
        """The items with the highest non-response in their latest round."""
        latest: dict[str, ItemNonResponse] = {}
        for row in self.non_response:
            latest[row.item] = row
        rows = [r for r in latest.values() if r.rate is not None]
        return tuple(sorted(rows, key=lambda r: (-(r.rate or 0.0), r.item))[:limit])


def _non_response(df: pd.DataFrame, item_kinds: Mapping[str, str]) -> list[ItemNonResponse]:
    rows: list[ItemNonResponse] = []
    for number, in_round in df.groupby("round", sort=True):
        respondents = int(in_round["expert"].nunique())
        for item, on_item in in_round.groupby("item", sort=True):
            if str(item) not in item_kinds:
                continue
            answered = int(on_item.loc[on_item["value"].notna(), "expert"].nunique())
            by_expert = on_item.groupby("expert")["no_answer"].all()
            outside = int(by_expert.sum())
            rows.append(
                ItemNonResponse(
                    round=int(str(number)),
                    item=str(item),
                    respondents=respondents,
                    answered=answered,
                    outside_expertise=outside,
                    missing=max(respondents - answered - outside, 0),
                )
            )
    return rows


def attrition_tests(study: Study, df: pd.DataFrame, closed: list[int]) -> list[AttritionTest]:
    """Per event and pair of closed rounds: leavers vs stayers on the horizon probability."""
    tests: list[AttritionTest] = []
    for before, after in itertools.pairwise(closed):
        stayed = set(df.loc[df["round"] == after, "expert"])
        for item in study.items:
            if item.kind != ItemKind.EVENT:
                continue
            found = probability_question(item, study.horizon)
            if found is None:
                continue
            question, part = found
            rows = df[
                (df["round"] == before)
                & (df["item"] == item.key)
                & (df["question"] == question.key)
                & (df["part"] == part)
                & df["value"].notna()
            ]
            if rows.empty:
                continue
            values = {str(e): float(v) for e, v in zip(rows["expert"], rows["value"], strict=True)}
            result = attrition(values, {str(e) for e in stayed}, alpha=ATTRITION_ALPHA)
            if result.n_left == 0:
                continue
            tests.append(
                AttritionTest(
                    round=after,
                    item=item.key,
                    n_stayed=result.n_stayed,
                    n_left=result.n_left,
                    median_stayed=result.median_stayed,
                    median_left=result.median_left,
                    p=result.p,
                )
            )
    return tests


def measured_record(session: Session, study: Study, up_to: int | None = None) -> MeasuredRecord:
    """Reminders, suggestions, item non-response and attrition bias of the closed rounds."""
    rounds = list(
        session.scalars(
            select(Round)
            .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
            .order_by(Round.number)
        )
    )
    if up_to is not None:
        rounds = [r for r in rounds if r.number <= up_to]
    df = pd.DataFrame()
    if rounds:
        # who answered a matrix item needs one row per answer, not one per cell
        tables = [
            tidy_answers(session, study, rounds, matrices=False),
            tidy_row_answers(session, study, rounds),
        ]
        found = [t for t in tables if not t.empty]
        df = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    reminders, reminded = session.execute(
        select(
            func.coalesce(func.sum(Participation.reminder_count), 0),
            func.count().filter(Participation.reminder_count > 0),
        ).where(Participation.study_id == study.id)
    ).one()
    statuses: dict[str, int] = dict(
        session.execute(
            select(Suggestion.status, func.count())
            .where(Suggestion.study_id == study.id)
            .group_by(Suggestion.status)
        )
        .tuples()
        .all()
    )
    kinds = {i.key: str(i.kind) for i in study.items}
    closed = [r.number for r in rounds]
    return MeasuredRecord(
        reminders_sent=int(reminders),
        experts_reminded=int(reminded),
        suggestions_received=sum(statuses.values()),
        suggestions_accepted=statuses.get("accepted", 0),
        suggestions_declined=statuses.get("declined", 0),
        non_response=tuple(_non_response(df, kinds)) if not df.empty else (),
        attrition=tuple(attrition_tests(study, df, closed)) if not df.empty else (),
    )
