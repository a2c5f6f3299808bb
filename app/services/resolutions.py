"""Recording what became of items: realisations of calibration items, outcomes of events and
realised trend values, each with its source, who recorded it and when (audited).

Rows are appended, never changed: a correction adds a row and the latest per (item, year)
counts, so the page can show the history. A calibration item without a recorded realisation
takes the survey file's `true_value`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import ItemKind
from app.messages import N_, Message
from app.models import Item, Resolution, ResolutionKind, Study, User, ValidationError
from app.services import audit

#: longest source text kept (a citation or a link, not an essay)
SOURCE_MAX = 2000
#: trend years accepted (a typo such as 20235 is refused, not stored)
YEAR_RANGE = (1900, 2300)


@dataclass(frozen=True)
class Recorded:
    """The current figure of one item (or one trend year), and its provenance."""

    item_key: str
    kind: str
    value: float | None
    occurred: bool | None
    resolved_on: date | None
    year: int | None
    source: str
    recorded_by: str
    recorded_at: datetime | None
    #: True when the figure is the survey file's true_value (nothing recorded yet)
    from_survey: bool = False


@dataclass(frozen=True)
class Resolved:
    """Every current figure of a study: realisations, outcomes, and trend values by year."""

    realisations: dict[str, Recorded]
    outcomes: dict[str, Recorded]
    trend_values: dict[str, dict[int, Recorded]]


def _invalid(field: str, message: Message) -> ValidationError:
    """A ValidationError naming the field at fault."""
    return ValidationError(str(message), {field: [message]})


def _source(text: str) -> str:
    """The cleaned source; refused when empty or too long."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise _invalid("source", N_("Say where this figure comes from (a source is required)."))
    if len(cleaned) > SOURCE_MAX:
        raise _invalid("source", N_("The source is at most %(n)s characters.", n=SOURCE_MAX))
    return cleaned


def _finite(field: str, value: float | None) -> float:
    """A finite number, or a ValidationError naming the field."""
    if value is None or not math.isfinite(value):
        raise _invalid(field, N_("Enter a number."))
    return float(value)


def _item(study: Study, key: str, kind: ItemKind) -> Item:
    """The study's item of that key and kind, or a ValidationError naming the item field."""
    for item in study.items:
        if item.key == key:
            if item.kind != kind:
                raise _invalid(
                    "item", N_("Item %(key)s is not of kind %(kind)s.", key=key, kind=str(kind))
                )
            return item
    raise _invalid("item", N_("This study has no item %(key)s.", key=key))


def _add(
    session: Session,
    study: Study,
    item: Item,
    *,
    kind: ResolutionKind,
    actor: User | None,
    now: datetime,
    source: str,
    old: Recorded | None,
    **fields: Any,
) -> Resolution:
    """Append a resolution row and its audit event."""
    row = Resolution(
        study_id=study.id,
        item_id=item.id,
        kind=kind,
        source=source,
        recorded_by_id=actor.id if actor is not None else None,
        recorded_by_name=actor.name if actor is not None else "system",
        recorded_at=now,
        **fields,
    )
    session.add(row)
    new = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
    audit.record(
        session,
        action=f"resolution.{kind}",
        now=now,
        actor=actor,
        study=study,
        target=f"item {item.key}" + (f" {fields['year']}" if fields.get("year") else ""),
        old=_as_facts(old) if old is not None and not old.from_survey else None,
        new={**new, "source": source},
    )
    session.flush()
    return row


def _as_facts(recorded: Recorded) -> dict[str, Any]:
    """A recorded figure as audit facts."""
    return {
        "value": recorded.value,
        "occurred": recorded.occurred,
        "resolved_on": recorded.resolved_on.isoformat() if recorded.resolved_on else None,
        "year": recorded.year,
        "source": recorded.source,
    }


def record_realisation(
    session: Session,
    study: Study,
    item_key: str,
    *,
    value: float | None,
    source: str,
    actor: User | None,
    now: datetime,
) -> Resolution:
    """Record the realisation (true value) of a calibration item."""
    item = _item(study, item_key, ItemKind.CALIBRATION)
    number = _finite("value", value)
    cleaned = _source(source)
    old = current(session, study).realisations.get(item.key)
    return _add(
        session,
        study,
        item,
        kind=ResolutionKind.REALISATION,
        actor=actor,
        now=now,
        source=cleaned,
        old=old,
        value=number,
    )


def record_outcome(
    session: Session,
    study: Study,
    item_key: str,
    *,
    occurred: bool | None,
    on: date | None,
    source: str,
    actor: User | None,
    now: datetime,
) -> Resolution:
    """Record whether an event occurred (and on what date), or that it had not as of a date."""
    item = _item(study, item_key, ItemKind.EVENT)
    if occurred is None:
        raise _invalid("occurred", N_("Say whether the event occurred."))
    if on is None:
        raise _invalid("resolved_on", N_("Enter the date (YYYY-MM-DD)."))
    if on > now.date():
        raise _invalid("resolved_on", N_("The date cannot be in the future."))
    cleaned = _source(source)
    old = current(session, study).outcomes.get(item.key)
    return _add(
        session,
        study,
        item,
        kind=ResolutionKind.OUTCOME,
        actor=actor,
        now=now,
        source=cleaned,
        old=old,
        occurred=occurred,
        resolved_on=on,
    )


def record_trend_value(
    session: Session,
    study: Study,
    item_key: str,
    *,
    year: int | None,
    value: float | None,
    source: str,
    actor: User | None,
    now: datetime,
) -> Resolution:
    """Record a trend's realised value in one year."""
    item = _item(study, item_key, ItemKind.TREND)
    if year is None or not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise _invalid(
            "year",
            N_("Enter a year from %(low)s to %(high)s.", low=YEAR_RANGE[0], high=YEAR_RANGE[1]),
        )
    if year > now.year:
        raise _invalid("year", N_("The year cannot be in the future."))
    number = _finite("value", value)
    cleaned = _source(source)
    old = current(session, study).trend_values.get(item.key, {}).get(year)
    return _add(
        session,
        study,
        item,
        kind=ResolutionKind.TREND_VALUE,
        actor=actor,
        now=now,
        source=cleaned,
        old=old,
        year=year,
        value=number,
    )


def _recorded(row: Resolution, key: str) -> Recorded:
    """A row as a frozen figure."""
    return Recorded(
        item_key=key,
        kind=row.kind,
        value=row.value,
        occurred=row.occurred,
        resolved_on=row.resolved_on,
        year=row.year,
        source=row.source,
        recorded_by=row.recorded_by_name,
        recorded_at=row.recorded_at,
    )


def current(session: Session, study: Study) -> Resolved:
    """The latest figure per item (and trend year); true_value fills in missing realisations."""
    rows = session.execute(
        select(Resolution, Item.key)
        .join(Item, Resolution.item_id == Item.id)
        .where(Resolution.study_id == study.id)
        .order_by(Resolution.id)
    ).all()
    realisations: dict[str, Recorded] = {}
    outcomes: dict[str, Recorded] = {}
    trends: dict[str, dict[int, Recorded]] = {}
    for row, key in rows:  # later rows overwrite earlier ones: the latest counts
        if row.kind == ResolutionKind.REALISATION:
            realisations[key] = _recorded(row, key)
        elif row.kind == ResolutionKind.OUTCOME:
            outcomes[key] = _recorded(row, key)
        elif row.year is not None:
            trends.setdefault(key, {})[row.year] = _recorded(row, key)
    for item in study.items:
        if (
            item.kind == ItemKind.CALIBRATION
            and item.key not in realisations
            and item.true_value is not None
        ):
            realisations[item.key] = Recorded(
                item_key=item.key,
                kind=ResolutionKind.REALISATION,
                value=item.true_value,
                occurred=None,
                resolved_on=None,
                year=None,
                source="survey file (true_value)",
                recorded_by="",
                recorded_at=None,
                from_survey=True,
            )
    return Resolved(realisations, outcomes, trends)


def history(session: Session, study: Study) -> list[Recorded]:
    """Every figure ever recorded for the study, newest first."""
    rows = session.execute(
        select(Resolution, Item.key)
        .join(Item, Resolution.item_id == Item.id)
        .where(Resolution.study_id == study.id)
        .order_by(Resolution.id.desc())
    ).all()
    return [_recorded(row, key) for row, key in rows]


@dataclass(frozen=True)
class Resolvable:
    """An event or trend as the survey file says it resolves (fields may be absent)."""

    item_key: str
    kind: str
    resolves_by: str | None
    resolution_source: str | None


def resolvable_items(study: Study) -> list[Resolvable]:
    """Events and trends with the survey file's resolves_by / resolution_source, if it has them."""
    found: list[Resolvable] = []
    definitions = {}
    for entry in (study.definition or {}).get("items", []) or []:
        if isinstance(entry, dict) and "key" in entry:
            definitions[entry["key"]] = entry
    for item in study.items:
        if item.kind not in (ItemKind.EVENT, ItemKind.TREND):
            continue
        entry = definitions.get(item.key, {})
        resolves_by = entry.get("resolves_by")
        source = entry.get("resolution_source")
        found.append(
            Resolvable(
                item_key=item.key,
                kind=item.kind,
                resolves_by=None if resolves_by is None else str(resolves_by),
                resolution_source=None if source is None else str(source),
            )
        )
    return found
