"""The linkage test's world and its reading of every export (docs/anonymity.md).

An anonymous study whose panel gives an attacker every handle the platform could leak: groups
of very different sizes (two under k), three languages, consent and answers on different days,
two experts who skipped round 2, one who joined late, one withdrawn, and round 3 open with one
expert started. Each export (CSV, XLSX, JSON rows, the archive, API results, the report) is read
the way an attacker would: per pseudonym, every field that is also visible next to names on the
facilitator's side (group, language, status, the rounds someone took part in, days).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Item, Participation, Round, RoundProgress, Study, User
from app.services import answers, api_keys, panel, rounds
from tests.conftest import NOW, csrf_from, login

API = "/api/v1"
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: the panel: group -> size. Academia and Government are shown (>= k = 5); Industry (2) and
#: Ministry (3) are under k, and blank together hold 5
GROUPS = (("Academia", 7), ("Government", 6), ("Industry", 2), ("Ministry", 3))
LANGUAGES = ("en", "fa", "ru")


@dataclass
class LinkageWorld:
    """The study, its people by name, and the credentials to read it."""

    study: Study
    members: dict[str, Participation]  #: name -> participation
    tokens: dict[str, str]  #: name -> private-link token
    rounds: list[Round]
    api_secret: str

    @property
    def k(self) -> int:
        """The study's k."""
        return self.study.k

    def pseudonyms(self) -> set[str]:
        """Every pseudonym of the panel."""
        return {p.pseudonym for p in self.members.values()}


def _answer(session: Session, member: Participation, round_: Round, item: Item, day: int) -> None:
    """One expert answers E01 (probability and a reason) on a day of their own."""
    answers.save_item(
        session,
        member,
        round_,
        item,
        {
            "probability": {"value": 30 + (day * 7) % 50},
            "reason": {"text": f"My reasoning, written on day {day}."},
        },
        idempotency_key=None,
        now=NOW + timedelta(days=day),
    )


def _submitted(session: Session, member: Participation, round_: Round, day: int) -> None:
    """Mark a round submitted (the test needs the progress rows, not full answers)."""
    progress = session.get(RoundProgress, (member.id, round_.id))
    assert progress is not None
    progress.submitted_at = NOW + timedelta(days=day)
    progress.submit_count = 1


def build_linkage_world(session: Session, study: Study, owner: User) -> LinkageWorld:
    """Rounds 1 and 2 closed, round 3 open with one expert started (see the module's doc)."""
    members: dict[str, Participation] = {}
    tokens: dict[str, str] = {}
    index = 0
    for group, size in GROUPS:
        for number in range(size):
            name = f"{group} Person {number}"
            new = panel.add_expert(
                session,
                study,
                name=name,
                email=f"{group.lower()}{number}@linkage.example.org",
                group=group,
                language=LANGUAGES[index % 3],
                actor=owner,
                now=NOW,
            )
            panel.record_consent(
                session,
                new.participation,
                language=LANGUAGES[index % 3],
                now=NOW + timedelta(days=index % 4),
            )
            members[name], tokens[name] = new.participation, new.token
            index += 1
    e01 = session.scalars(select(Item).where(Item.study_id == study.id, Item.key == "E01")).one()
    skipped_round_2 = {"Academia Person 0", "Government Person 0"}
    done: list[Round] = []
    for number in (1, 2):
        start = NOW + timedelta(days=10 * number)
        round_ = rounds.create_round(session, study, actor=owner, now=start)
        rounds.open_round(session, round_, actor=owner, now=start)
        if number == 2:
            late = panel.add_expert(
                session,
                study,
                name="Late Joiner",
                email="late@linkage.example.org",
                group="Academia",
                language="fa",
                actor=owner,
                now=start,
            )
            panel.record_consent(session, late.participation, language="fa", now=start)
            members["Late Joiner"], tokens["Late Joiner"] = late.participation, late.token
        for i, (name, member) in enumerate(members.items()):
            if number == 2 and name in skipped_round_2:
                continue
            day = 10 * number + i % 5
            _answer(session, member, round_, e01, day)
            if i % 2:
                _submitted(session, member, round_, day)
        rounds.close_round(session, round_, actor=owner, now=start + timedelta(days=7))
        done.append(round_)
    panel.set_withdrawn(
        session, members["Government Person 5"], True, actor=owner, now=NOW + timedelta(days=28)
    )
    third = rounds.create_round(session, study, actor=owner, now=NOW + timedelta(days=30))
    rounds.open_round(session, third, actor=owner, now=NOW + timedelta(days=30))
    _answer(session, members["Academia Person 1"], third, e01, 31)
    done.append(third)
    key = api_keys.create_key(session, owner, name="linkage", study_ids=None, now=NOW)
    session.commit()
    return LinkageWorld(study, members, tokens, done, key.secret)


# --- reading exports the way an attacker would ---------------------------------------------------


@dataclass
class Seen:
    """What one export shows about one pseudonym, per field that is also visible next to names."""

    groups: set[str] = field(default_factory=set)
    languages: set[str] = field(default_factory=set)
    statuses: set[str] = field(default_factory=set)
    rounds: set[int] = field(default_factory=set)  #: rounds with answers or progress
    days: set[str] = field(default_factory=set)

    def key(self) -> tuple[frozenset[Any], ...]:
        """The equivalence class this pseudonym falls in."""
        return (
            frozenset(self.groups - {""}),
            frozenset(self.languages),
            frozenset(self.statuses),
            frozenset(self.rounds),
            frozenset(self.days),
        )


def small_classes(seen: Mapping[str, Seen], k: int) -> dict[tuple[frozenset[Any], ...], int]:
    """Classes of pseudonyms with data that hold fewer than k pseudonyms (empty: safe)."""
    sizes: dict[tuple[frozenset[Any], ...], int] = defaultdict(int)
    for entry in seen.values():
        if entry.rounds:
            sizes[entry.key()] += 1
    return {key: n for key, n in sizes.items() if n < k}


def _days_in(values: Iterable[Any]) -> set[str]:
    """Every day-looking text among values (dates leak whatever the column is called)."""
    return {m.group(0) for v in values if isinstance(v, str) for m in DAY.finditer(v)}


def seen_in_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, Seen]:
    """Tidy answer rows (CSV, JSON rows, the XLSX answers sheet), by pseudonym."""
    seen: dict[str, Seen] = defaultdict(Seen)
    for row in rows:
        entry = seen[str(row["expert"])]
        entry.rounds.add(int(row["round"]))
        entry.groups.add(str(row.get("group") or ""))
        if row.get("language"):
            entry.languages.add(str(row["language"]))
        if row.get("status"):
            entry.statuses.add(str(row["status"]))
        entry.days |= _days_in(v for c, v in row.items() if c not in ("text",))
    return dict(seen)


def seen_in_csv(text: str) -> dict[str, Seen]:
    """A tidy CSV export, by pseudonym."""
    return seen_in_rows(csv.DictReader(io.StringIO(text)))


def seen_in_xlsx(content: bytes, pseudonyms: set[str]) -> dict[str, Seen]:
    """The XLSX export: its answers sheet by pseudonym; any other sheet naming a pseudonym
    makes that pseudonym a class of its own (no sheet but the answers may key on them)."""
    book = load_workbook(io.BytesIO(content), read_only=True)
    seen: dict[str, Seen] = {}
    for sheet in book.worksheets:
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        if not values:
            continue
        header = [str(c) for c in values[0]]
        if sheet.title == "Answers":
            seen.update(seen_in_rows(dict(zip(header, row, strict=False)) for row in values[1:]))
            continue
        for row in values[1:]:
            for cell in row:
                if isinstance(cell, str) and cell in pseudonyms:
                    seen[f"{sheet.title}:{cell}"] = Seen(rounds={-1}, days={sheet.title})
    return seen


def seen_in_archive(content: bytes) -> dict[str, Seen]:
    """A study archive: its panel (group, language, status, consent) and its rounds (answers,
    progress, and their days), by pseudonym."""
    study = json.loads(content)["study"]
    seen: dict[str, Seen] = defaultdict(Seen)
    for member in study["panel"]:
        entry = seen[member["pseudonym"]]
        entry.groups.add(member.get("group") or "")
        if member.get("language"):
            entry.languages.add(member["language"])
        if member.get("status"):
            entry.statuses.add(member["status"])
        entry.days |= _days_in([member.get("consent")])
    for round_ in study["rounds"]:
        for answer in round_["answers"]:
            entry = seen[answer["expert"]]
            entry.rounds.add(round_["number"])
            entry.days |= _days_in([answer.get("date")])
        for progress in round_["progress"]:
            entry = seen[progress["expert"]]
            entry.rounds.add(round_["number"])
            entry.days |= _days_in(
                [progress.get("started"), progress.get("last_saved"), progress.get("submitted")]
            )
    return dict(seen)


def seen_in_text(text: str, pseudonyms: set[str]) -> dict[str, Seen]:
    """Any other read (results, report): a pseudonym it names is a class of its own."""
    return {p: Seen(rounds={-1}, days={"named"}) for p in pseudonyms if p in text}


# --- how the facilitator reads them ---------------------------------------------------------------


def facilitator_browser(client: FlaskClient) -> FlaskClient:
    """The study owner, signed in."""
    assert login(client).status_code == 303
    return client


def web_export(client: FlaskClient, world: LinkageWorld, fmt: str) -> bytes:
    """A download from the results page (CSV, XLSX or the archive)."""
    base = f"/f/studies/{world.study.id}/results"
    token = csrf_from(client.get(base).get_data(as_text=True))
    response = client.post(f"{base}/export", data={"format": fmt, "csrf_token": token})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data()


def api(client: FlaskClient, world: LinkageWorld, method: str, path: str) -> Any:
    """An API call with the owner's key."""
    headers = {"Authorization": f"Bearer {world.api_secret}"}
    return client.open(f"{API}/studies/{world.study.id}{path}", method=method, headers=headers)


def api_export(client: FlaskClient, world: LinkageWorld, name: str) -> bytes:
    """An API download (answers.csv, answers.json, archive.json)."""
    response = api(client, world, "POST", f"/exports/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data()
