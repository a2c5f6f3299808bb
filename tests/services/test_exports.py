"""Exports: anonymous tidy answers (CSV), formula escaping, identified exports, the study archive."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app import create_app
from app.definitions import parse_definition
from app.definitions.model import Anonymity
from app.extensions import db
from app.models import (
    Answer,
    AuditEvent,
    Base,
    Expert,
    PermissionDeniedError,
    Role,
    Study,
    User,
    ValidationError,
)
from app.services import exports, studies
from app.services.tidy import tidy_answers
from tests.conftest import EXAMPLE_SURVEY, NOW, _worker_database, make_user, postgres_url
from tests.reports.helpers import (
    CANARY_EMAIL_DOMAIN,
    CANARY_NAME,
    FORMULA_CELLS,
    HOSTILE_REASONS,
    PLAIN_REASON,
    ScriptedStudy,
    scripted_study,
)


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with two closed rounds answered by a scripted panel."""
    return scripted_study(session, example_study, facilitator_user)


def _csv(study: Study, session: Session, identified: bool = False) -> list[dict[str, str]]:
    """The study's CSV as the exports write it, after checking it equals the whole-table CSV."""
    text = b"".join(exports.answer_csv_chunks(session, study, identified=identified)).decode()
    whole = exports.csv_text(
        exports.answer_rows(session, study, identified=identified),
        exports.answer_columns(identified),
    )
    assert text == whole
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_anonymous_answers_have_only_the_allowed_columns_and_no_identity(
    session: Session, scripted: ScriptedStudy
) -> None:
    text = exports.csv_text(
        exports.answer_rows(session, scripted.study), exports.answer_columns(False)
    )
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == exports.ANONYMOUS_COLUMNS
    assert CANARY_NAME not in text
    assert CANARY_EMAIL_DOMAIN not in text
    for token in scripted.tokens:
        assert token not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    pseudonyms = {p.pseudonym for p, _t in scripted.members}
    assert {r["expert"] for r in rows} == pseudonyms
    # no answer times: with the panel page's progress they could single experts out
    assert "date" not in rows[0]


def test_answer_rows_match_the_tidy_answers(session: Session, scripted: ScriptedStudy) -> None:
    rows = [r for r in exports.answer_rows(session, scripted.study) if r["question"] != "reason"]
    tidy = tidy_answers(session, scripted.study)
    assert len(rows) == len(tidy)
    ours = {
        (r["round"], r["expert"], r["item"], r["question"], r["part"]): r["value"] for r in rows
    }
    for record in tidy.to_dict("records"):
        key = (
            record["round"],
            record["expert"],
            record["item"],
            record["question"],
            record["part"],
        )
        value = record["value"]
        assert ours[key] == (None if value != value else value)  # NaN means no value
    reasons = [r for r in exports.answer_rows(session, scripted.study) if r["question"] == "reason"]
    assert {r["text"] for r in reasons} == {*HOSTILE_REASONS, PLAIN_REASON}


@pytest.mark.parametrize("text", [*FORMULA_CELLS])
def test_formula_cells_are_escaped_and_otherwise_unchanged(text: str) -> None:
    assert exports.escape_formula(text) == "'" + text
    line = exports.csv_text([{"text": text, "value": -2.5}], ("text", "value"))
    header, cells = list(csv.reader(io.StringIO(line, newline="")))
    assert header == ["text", "value"]
    assert cells == ["'" + text, "-2.5"]  # numbers stay numbers


@pytest.mark.parametrize("value", ["plain", "a=b", "50 %", "", "E01 - E02"])
def test_ordinary_text_is_left_alone(value: str) -> None:
    assert exports.escape_formula(value) == value
    assert exports.escape_formula(-3.0) == -3.0


def test_csv_of_the_study_escapes_every_hostile_reason(
    session: Session, scripted: ScriptedStudy
) -> None:
    rows = _csv(scripted.study, session)
    texts = {r["text"] for r in rows if r["question"] == "reason"}
    assert texts == {"'" + t for t in HOSTILE_REASONS[:4]} | {HOSTILE_REASONS[4], PLAIN_REASON}
    negative = [r for r in rows if r["value"].startswith("-")]
    assert negative, "the scripted impact answers include negative numbers"
    assert all(re.fullmatch(r"-\d+(\.\d+)?", r["value"]) for r in negative)


def test_identified_exports_need_a_confidential_study_an_admin_and_a_reason(
    session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    study = scripted.study
    admin = make_user(session, "admin@example.org", Role.ADMIN)
    with pytest.raises(PermissionDeniedError):
        exports.authorize_export(
            session, study, actor=admin, now=NOW, kind="csv", identified=True, reason="audit"
        )
    with pytest.raises(PermissionDeniedError):
        exports.answer_rows(session, study, identified=True)
    study.anonymity = Anonymity.CONFIDENTIAL
    session.commit()
    with pytest.raises(PermissionDeniedError):
        exports.authorize_export(
            session, study, actor=facilitator_user, now=NOW, kind="csv", identified=True, reason="x"
        )
    with pytest.raises(ValidationError):
        exports.authorize_export(session, study, actor=admin, now=NOW, kind="csv", identified=True)
    exports.authorize_export(
        session, study, actor=admin, now=NOW, kind="csv", identified=True, reason="ethics board"
    )
    rows = _csv(study, session, identified=True)
    assert {"name", "email"} <= set(rows[0])
    assert any(r["name"].startswith(CANARY_NAME) for r in rows)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export.identified"))
    assert event is not None
    assert event.actor_id == admin.id and event.reason == "ethics board"


# ---------------------------------------------------------------------------------------------
# The archive


@pytest.fixture
def empty_app(database_url: str, worker_id: str, tmp_path: Path) -> Iterator[Flask]:
    """A second, empty instance (its own database) to import an archive into."""
    base = postgres_url()
    if base:
        uri = _worker_database(base, f"{worker_id}_import")
        engine = create_engine(uri)
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        engine.dispose()
    else:
        uri = f"sqlite:///{tmp_path / 'import.sqlite'}"
    application = create_app(
        {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": uri, "MAIL_BACKEND": "outbox"}
    )
    application.instance_path = str(tmp_path / "instance-import")
    Path(application.instance_path).mkdir(exist_ok=True)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _export_from(app: Flask, key: str) -> bytes:
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.key == key))
        assert study is not None
        return exports.export_archive(db.session, study)


def test_archive_round_trip_is_byte_identical(
    app: Flask, session: Session, scripted: ScriptedStudy, empty_app: Flask
) -> None:
    # an answer kept from the previous round stays marked as kept through the round trip
    kept = session.scalars(select(Answer).where(Answer.is_current.is_(True))).first()
    assert kept is not None
    kept.kept = True
    scripted.study.page_by = "category"  # the study's paging travels with it too
    session.commit()
    first = exports.export_archive(session, scripted.study)
    assert b'"kept":true' in first.replace(b" ", b"")
    assert CANARY_NAME.encode() not in first
    assert CANARY_EMAIL_DOMAIN.encode() not in first
    for token in scripted.tokens:
        assert token.encode() not in first
    payload = json.loads(first)["study"]
    assert {m["pseudonym"] for m in payload["panel"]} == {p.pseudonym for p, _t in scripted.members}
    # an anonymous study's archive carries no expert-side dates, languages, statuses or progress
    assert all(a["date"] is None for r in payload["rounds"] for a in r["answers"])
    assert all(r["progress"] == [] for r in payload["rounds"])
    assert all(
        (m["language"], m["status"], m["consent"]) == (None, None, None) for m in payload["panel"]
    )
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        study = exports.import_archive(db.session, first, actor=None, now=NOW)
        db.session.commit()
        assert study.key == scripted.study.key
        assert study.page_by == "category"
    second = _export_from(empty_app, scripted.study.key)
    assert second == first


def _reseal(raw: bytes, change: object) -> bytes:
    """An archive edited and given a matching checksum (a well-formed but inconsistent file)."""
    envelope = json.loads(raw)
    change(envelope["study"])  # type: ignore[operator]
    envelope["sha256"] = (
        __import__("hashlib").sha256(exports.canonical_json(envelope["study"])).hexdigest()
    )
    return exports.canonical_json(envelope)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: raw.replace(b'"horizon":2040', b'"horizon":2041'), id="edited"),
        pytest.param(lambda raw: b"\xff\xfe" + raw, id="not-utf8"),
        pytest.param(
            lambda raw: _reseal(
                raw, lambda s: s["rounds"][0]["answers"][0].update(expert="P-NOBODY")
            ),
            id="unknown-expert",
        ),
        pytest.param(
            lambda raw: _reseal(raw, lambda s: s["items"][0]["questions"][0].update(kind="essay")),
            id="bad-kind",
        ),
        pytest.param(
            lambda raw: _reseal(raw, lambda s: s["rounds"][1]["answers"][-1].update(revision="2")),
            id="bad-type",
        ),
    ],
)
def test_a_damaged_archive_is_rejected_whole(
    app: Flask, session: Session, scripted: ScriptedStudy, empty_app: Flask, damage: object
) -> None:
    broken = damage(exports.export_archive(session, scripted.study))  # type: ignore[operator]
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        with pytest.raises(exports.ArchiveError) as caught:
            exports.import_archive(db.session, broken, actor=None, now=NOW)
        db.session.rollback()
        assert "Nothing was imported" in str(caught.value)
        assert db.session.scalar(select(func.count()).select_from(Study)) == 0
        assert db.session.scalar(select(func.count()).select_from(Expert)) == 0


def test_importing_a_study_whose_key_exists_is_refused(
    session: Session, scripted: ScriptedStudy
) -> None:
    raw = exports.export_archive(session, scripted.study)
    with pytest.raises(exports.ArchiveError, match="exists already"):
        exports.import_archive(session, raw, actor=None, now=NOW)


# An archive is untrusted input: every setting is held to what a survey file may say


def _set(path: str, value: object) -> object:
    """A change to an archive's study at a dotted path ("definition.study.k")."""

    def change(study: dict[str, object]) -> None:
        *parents, last = path.split(".")
        target: object = study
        for name in parents:
            target = target[int(name)] if isinstance(target, list) else target[name]  # type: ignore[index]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value  # type: ignore[index]

    return change


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        pytest.param("k", 2, "study.k: must be from 3", id="k-under-the-floor"),
        pytest.param(
            "k_comments", 4, "study.k_comments: must be at least k", id="k-comments-under-k"
        ),
        pytest.param(
            "definition.study.k", 1, "study.definition.study.k", id="survey-k-under-floor"
        ),
        pytest.param(
            "round_limit", 1, "study.rounds: 2 rounds; the study allows 1", id="rounds-over-limit"
        ),
        pytest.param(
            "round_limit", 9, "study.round_limit: the survey pre-registered", id="limit-raised"
        ),
        pytest.param(
            "anonymity",
            "confidential",
            "study.anonymity: the survey was anonymous",
            id="anonymity-weakened",
        ),
        pytest.param("quantile_method", "type0", "study.quantile_method", id="quantile-method"),
        pytest.param(
            "consensus_rule", "iqr <= ", "study.consensus_rule: not a valid rule", id="rule"
        ),
        pytest.param(
            "panel.0.group", "x" * 61, "study.panel[0].group: expected at most 60", id="long-group"
        ),
        pytest.param(
            "rounds.0.number", 7, "study.rounds: rounds numbered 1, 2, 3", id="round-numbers"
        ),
        pytest.param(
            "rounds.0.answers.0.revision",
            2**40,
            "expected a whole number of at most",
            id="huge-int",
        ),
        pytest.param(
            "panel.0.nickname", "Zelda", "study.panel[0].nickname: not a field", id="unknown-field"
        ),
    ],
)
def test_an_archive_with_settings_a_survey_file_could_not_have_is_refused(
    session: Session, scripted: ScriptedStudy, path: str, value: object, problem: str
) -> None:
    def change(study: dict[str, object]) -> None:
        _set(path, value)(study)  # type: ignore[operator]
        study["key"] = "edited-copy"

    edited = _reseal(exports.export_archive(session, scripted.study), change)
    with pytest.raises(exports.ArchiveError) as refused:
        exports.import_archive(session, edited, actor=None, now=NOW)
    session.rollback()
    assert "Nothing was imported" in str(refused.value)
    assert any(line.startswith(problem) or problem in line for line in refused.value.problems), (
        refused.value.problems
    )
    assert (
        session.scalar(select(func.count()).select_from(Study).where(Study.key == "edited-copy"))
        == 0
    )


def test_every_problem_is_listed_at_once(session: Session, scripted: ScriptedStudy) -> None:
    def change(study: dict[str, object]) -> None:
        study.update(k=1, k_comments=1, round_limit=0, key="Bad Key", horizon="2040")

    edited = _reseal(exports.export_archive(session, scripted.study), change)
    with pytest.raises(exports.ArchiveError) as refused:
        exports.import_archive(session, edited, actor=None, now=NOW)
    fields = {line.split(":")[0] for line in refused.value.problems}
    # the type error is found first; the settings of a well-typed archive are then all listed
    assert fields == {"study.horizon"}
    edited = _reseal(
        exports.export_archive(session, scripted.study),
        lambda s: s.update(k=1, k_comments=1, round_limit=0, key="Bad Key"),
    )
    with pytest.raises(exports.ArchiveError) as refused:
        exports.import_archive(session, edited, actor=None, now=NOW)
    fields = {line.split(":")[0] for line in refused.value.problems}
    assert {
        "study.key",
        "study.k",
        "study.k_comments",
        "study.round_limit",
        "study.rounds",
    } <= fields


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"format": NaN}', id="nan"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b'{"format": ' + b"9" * 5000 + b"}", id="huge-integer"),
        pytest.param(b'{"format": "delphi-study-archive\\u0000"}', id="nul"),
        pytest.param(b'"just a string"', id="not-an-object"),
    ],
)
def test_hostile_json_is_an_archive_error_not_a_crash(session: Session, raw: bytes) -> None:
    with pytest.raises(exports.ArchiveError, match="Nothing was imported"):
        exports.import_archive(session, raw, actor=None, now=NOW)


def test_an_older_archive_of_an_anonymous_study_imports_without_its_dates(
    session: Session, scripted: ScriptedStudy, empty_app: Flask
) -> None:
    """Version 1 archives carried languages, consent days, progress and answer dates; an
    anonymous study takes none of them in."""

    def as_version_1(study: dict[str, object]) -> None:
        for member in study["panel"]:  # type: ignore[attr-defined]
            member.update(language="en", status="active", consent="2026-03-01")
        for round_ in study["rounds"]:  # type: ignore[attr-defined]
            for answer in round_["answers"]:
                answer["date"] = "2026-02-10"
            round_["progress"] = [
                {"expert": m["pseudonym"], "started": "2026-02-10", "last_saved": None,
                 "submitted": "2026-02-11", "submit_count": 1}
                for m in study["panel"]  # type: ignore[attr-defined]
            ]  # fmt: skip

    old = json.loads(_reseal(exports.export_archive(session, scripted.study), as_version_1))
    old["version"] = 1
    first = exports.export_archive(session, scripted.study)
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        exports.import_archive(db.session, exports.canonical_json(old), actor=None, now=NOW)
        db.session.commit()
    assert _export_from(empty_app, scripted.study.key) == first


def test_a_confidential_archive_keeps_its_days_and_round_trips(
    app: Flask, session: Session, facilitator_user: User, empty_app: Flask
) -> None:
    survey = EXAMPLE_SURVEY.read_text(encoding="utf-8").replace(
        'anonymity = "anonymous"', 'anonymity = "confidential"'
    )
    definition = parse_definition(survey.encode(), "example.toml")
    study = studies.import_study(session, definition, actor=facilitator_user, now=NOW)
    assert study.anonymity == Anonymity.CONFIDENTIAL
    scripted = scripted_study(session, study, facilitator_user)
    first = exports.export_archive(session, scripted.study)
    payload = json.loads(first)["study"]
    assert all(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}", a["date"])
        for r in payload["rounds"]
        for a in r["answers"]
    )
    assert all(m["language"] == "en" and m["consent"] for m in payload["panel"])
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        exports.import_archive(db.session, first, actor=None, now=NOW)
        db.session.commit()
    assert _export_from(empty_app, scripted.study.key) == first


def test_archive_keeps_the_pairs_cap_and_every_experts_pairs(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, empty_app: Flask
) -> None:
    example_study.conditional_pairs_per_expert = 1  # two pairs: E02 and E03, each given E01
    scripted = scripted_study(session, example_study, facilitator_user)
    first = exports.export_archive(session, scripted.study)
    payload = json.loads(first)["study"]
    assert payload["conditional_pairs_per_expert"] == 1
    pairs = [tuple(pair) for member in payload["panel"] for pair in member["pairs"]]
    assert len(pairs) == len(payload["panel"])  # one pair each
    assert set(pairs) == {
        ("E02", "cross_desalination", "E01"),
        ("E03", "cross_desalination", "E01"),
    }
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        exports.import_archive(db.session, first, actor=None, now=NOW)
        db.session.commit()
    assert _export_from(empty_app, scripted.study.key) == first


def test_an_archive_from_before_the_pairs_cap_imports_uncapped(
    app: Flask, session: Session, scripted: ScriptedStudy, empty_app: Flask
) -> None:
    def older(study: dict[str, object]) -> None:
        del study["conditional_pairs_per_expert"]
        for member in study["panel"]:  # type: ignore[attr-defined]
            del member["pairs"]

    raw = _reseal(exports.export_archive(session, scripted.study), older)
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        study = exports.import_archive(db.session, raw, actor=None, now=NOW)
        assert study.conditional_pairs_per_expert is None
        db.session.rollback()


def test_an_archive_naming_a_pair_of_no_item_is_rejected(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, empty_app: Flask
) -> None:
    example_study.conditional_pairs_per_expert = 1
    scripted = scripted_study(session, example_study, facilitator_user, closed_rounds=1)
    raw = _reseal(
        exports.export_archive(session, scripted.study),
        lambda s: s["panel"][0].update(pairs=[["E09", "cross_desalination", "E01"]]),
    )
    with empty_app.app_context():
        if not postgres_url():
            db.create_all()
        with pytest.raises(exports.ArchiveError, match=r"panel\[0\]\.pairs\[0\]"):
            exports.import_archive(db.session, raw, actor=None, now=NOW)
        db.session.rollback()
