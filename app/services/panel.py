"""The panel: adding experts (one by one or by CSV), private links, expert sessions."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, defer, joinedload

from app.definitions.fields import quote
from app.models import (
    AccessLink,
    Expert,
    ExpertSession,
    Job,
    NotFoundError,
    Participation,
    ParticipationStatus,
    Round,
    RoundState,
    Study,
    User,
    ValidationError,
)
from app.models.text import forbidden_character
from app.security import hash_token, new_token
from app.services import audit, burden
from app.services import jobs as job_records
from app.services.accounts import normalise_email

MAX_GROUP_LENGTH = 60
MAX_NAME_LENGTH = 200
MAX_CSV_ROWS = 5000
CSV_COLUMNS = ("name", "email", "group", "language")
#: the job kind of a background panel import
IMPORT_KIND = "panel_import"
#: letters and digits that cannot be confused with each other when read aloud or printed
_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class NewMember:
    """A participation just added, with its first private link's token (shown once)."""

    participation: Participation
    token: str


@dataclass
class CsvImport:
    """The outcome of a CSV import: who was added, who was on the panel already."""

    added: list[NewMember] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _audit_target(participation: Participation) -> str:
    """How the audit log names a panel member: by email, as the panel page does.

    Never by pseudonym: pseudonyms key the answer exports, so a log line pairing an action
    on a named expert with a pseudonym would tell facilitators whose answers are whose.
    """
    return f"expert {participation.expert.email}"


def _pseudonym(session: Session, study: Study) -> str:
    """A random per-study code like 'P-7KQ2XM', unique within the study."""
    while True:
        code = "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        taken = session.scalar(
            select(Participation.id).where(
                Participation.study_id == study.id, Participation.pseudonym == code
            )
        )
        if taken is None:
            return code


def _clean_member(
    study: Study, *, name: str, email: str, group: str, language: str
) -> tuple[str, str, str, str]:
    """Validate one member's fields; raises ValidationError naming each bad field."""
    errors: dict[str, list[Any]] = {}
    name = (name or "").strip()
    group = (group or "").strip()
    language = (language or "").strip().lower() or study.default_language
    try:
        email = normalise_email(email)
    except ValidationError as error:
        errors["email"] = error.errors.get("email") or [
            f"{quote(email or '', 60)} is not a valid email address."
        ]
    if not name:
        errors["name"] = ["A name is needed (it is never shown to other experts)."]
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = [f"At most {MAX_NAME_LENGTH} characters."]
    elif problem := forbidden_character(name):
        errors["name"] = [problem]
    if len(group) > MAX_GROUP_LENGTH:
        errors["group"] = [f"At most {MAX_GROUP_LENGTH} characters."]
    elif problem := forbidden_character(group):
        errors["group"] = [problem]
    if language not in study.languages:
        errors["language"] = [
            f"{quote(language, 10)} is not a language of this study ({', '.join(study.languages)})."
        ]
    if errors:
        raise ValidationError("Some fields are not valid.", errors)
    return name, email, group, language


def add_expert(
    session: Session,
    study: Study,
    *,
    name: str,
    email: str,
    group: str,
    language: str,
    actor: User | None,
    now: datetime,
    synthetic: bool = False,
) -> NewMember:
    """Add one expert to the panel and issue their first private link.

    Whether the email is on another study's panel changes nothing the facilitator sees: the
    name is this participation's own, and the answer is the same either way.
    """
    name, email, group, language = _clean_member(
        study, name=name, email=email, group=group, language=language
    )
    expert = session.scalar(select(Expert).where(Expert.email == email))
    if expert is None:
        expert = Expert(email=email, created_at=now)
        session.add(expert)
        session.flush()
    elif session.scalar(
        select(Participation.id).where(
            Participation.study_id == study.id, Participation.expert_id == expert.id
        )
    ):
        raise ValidationError(
            f"{email} is already on this panel.", {"email": ["Already on this panel."]}
        )
    participation = Participation(
        study_id=study.id,
        expert_id=expert.id,
        name=name,
        group=group,
        language=language,
        pseudonym=_pseudonym(session, study),
        status=ParticipationStatus.INVITED,
        synthetic=synthetic,
        created_at=now,
    )
    session.add(participation)
    session.flush()
    token = issue_link(session, participation, purpose="manual", now=now)
    _assign_pairs_if_open(session, study, now)
    audit.record(
        session,
        action="panel.add",
        now=now,
        actor=actor,
        study=study,
        target=_audit_target(participation),
        group=group,
        language=language,
    )
    return NewMember(participation, token)


def _assign_pairs_if_open(session: Session, study: Study, now: datetime) -> None:
    """An expert joining (or back) while a round is open gets their conditional pairs now;
    otherwise the next round's opening gives them out."""
    is_open = session.scalar(
        select(Round.id).where(Round.study_id == study.id, Round.state == RoundState.OPEN)
    )
    if is_open is not None:
        burden.assign_pairs(session, study, now, joining=True)


def import_csv(
    session: Session,
    study: Study,
    data: bytes,
    *,
    actor: User | None,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> CsvImport:
    """Add experts from CSV (name, email, group, language); all rows or none.

    Every bad row is reported ("row 4: email: ..."); people already on the panel are skipped.
    `progress(done, total)` is told as the rows are added.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"The file is not UTF-8 text (bad byte at position {error.start}). "
            "Save it as 'CSV UTF-8' and try again.",
            {"file": ["Not UTF-8."]},
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("name", "email") if c not in header]
        if missing:
            raise ValidationError(
                f"The first line must name the columns; missing: {', '.join(missing)}. "
                f"Expected: {', '.join(CSV_COLUMNS)}.",
                {"file": ["Missing columns."]},
            )
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as error:
        # e.g. a field longer than the csv module allows (131,072 characters): the file is
        # refused with the line, as any other bad row is, instead of failing the request;
        # the reader has not counted the line it failed on yet
        line = reader.line_num + 1
        raise ValidationError(
            f"Nothing was imported: line {line} cannot be read as CSV ({error}).",
            {"file": [f"Line {line}: not readable as CSV ({error})."]},
        ) from None
    if len(rows) > MAX_CSV_ROWS:
        raise ValidationError(
            f"At most {MAX_CSV_ROWS} rows per file.", {"file": ["Too many rows."]}
        )
    problems: list[str] = []
    cleaned: list[tuple[str, str, str, str]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        try:
            member = _clean_member(
                study,
                name=row.get("name") or "",
                email=row.get("email") or "",
                group=row.get("group") or "",
                language=row.get("language") or "",
            )
        except ValidationError as error:
            problems.extend(
                f"row {number}: {fld}: {msg}" for fld, msgs in error.errors.items() for msg in msgs
            )
            continue
        if member[1] in seen:
            problems.append(f"row {number}: email: {member[1]} repeats row {seen[member[1]]}.")
            continue
        seen[member[1]] = number
        cleaned.append(member)
    if problems:
        raise ValidationError("Nothing was imported. Fix these rows:", {"rows": problems})
    if not cleaned:
        raise ValidationError("The file has no rows.", {"file": ["No rows."]})
    return _add_members(session, study, cleaned, actor=actor, now=now, progress=progress)


#: emails per IN (...) query: far below every database's limit on bound parameters
_EMAILS_PER_QUERY = 500


def _add_members(
    session: Session,
    study: Study,
    members: list[tuple[str, str, str, str]],
    *,
    actor: User | None,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> CsvImport:
    """Add validated (name, email, group, language) rows to the panel in a few bulk steps.

    What add_expert does row by row (find or create the expert, a participation with a fresh
    pseudonym, a first private link, an audit event), with a handful of queries and flushes
    for the whole file instead of several per row: a 5,000-row file took seconds.
    """
    result = CsvImport()
    emails = [email for _name, email, _group, _language in members]
    experts: dict[str, Expert] = {}
    for start in range(0, len(emails), _EMAILS_PER_QUERY):
        chunk = emails[start : start + _EMAILS_PER_QUERY]
        experts.update(
            (e.email, e) for e in session.scalars(select(Expert).where(Expert.email.in_(chunk)))
        )
    on_panel = set(
        session.scalars(
            select(Expert.email)
            .join(Participation, Participation.expert_id == Expert.id)
            .where(Participation.study_id == study.id)
        )
    )
    taken = set(
        session.scalars(select(Participation.pseudonym).where(Participation.study_id == study.id))
    )
    joining: list[tuple[Expert, str, str, str]] = []
    for name, email, group, language in members:
        if email in on_panel:
            result.skipped.append(email)
            continue
        expert = experts.get(email)
        if expert is None:
            expert = experts[email] = Expert(email=email, created_at=now)
            session.add(expert)
        joining.append((expert, name, group, language))
    session.flush()
    participations: list[tuple[Participation, Expert]] = []
    for expert, name, group, language in joining:
        participation = Participation(
            study_id=study.id,
            expert_id=expert.id,
            name=name,
            group=group,
            language=language,
            pseudonym=_unused_pseudonym(taken),
            status=ParticipationStatus.INVITED,
            synthetic=False,
            created_at=now,
        )
        session.add(participation)
        participations.append((participation, expert))
    session.flush()
    for done, (participation, expert) in enumerate(participations):
        if progress is not None and done and done % 500 == 0:
            progress(done, len(participations))
        token = new_token()
        # by id, not through participation.links: touching the collection of a flushed
        # participation loads it, one query (and autoflush) per row
        session.add(
            AccessLink(
                participation_id=participation.id,
                token_hash=hash_token(token),
                purpose="manual",
                created_at=now,
            )
        )
        result.added.append(NewMember(participation, token))
        audit.record(
            session,
            action="panel.add",
            now=now,
            actor=actor,
            study=study,
            # as _audit_target names them, without loading participation.expert again
            target=f"expert {expert.email}",
            flush=False,
            group=participation.group,
            language=participation.language,
        )
    session.flush()
    if participations:
        _assign_pairs_if_open(session, study, now)
    return result


def _unused_pseudonym(taken: set[str]) -> str:
    """A random pseudonym not in `taken` (the study's, read once), added to it."""
    while True:
        code = "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        if code not in taken:
            taken.add(code)
            return code


def csv_rows(data: bytes) -> int:
    """About how many rows a panel file has (lines after the header; 0 if it is not text)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return 0
    return max(0, len(text.strip().splitlines()) - 1)


def request_import(
    session: Session,
    study: Study,
    data: bytes,
    *,
    actor: User | None,
    now: datetime,
    send_now: bool = False,
) -> Job:
    """A background import of a large panel file (its text rides in the job, cleared when done).

    The caller runs it after commit; the same file sent again while it runs joins that job.
    """
    text = data.decode("utf-8-sig")
    digest = hashlib.sha256(data).hexdigest()[:32]
    job, _created = job_records.request_job(
        session,
        kind=IMPORT_KIND,
        key=f"{IMPORT_KIND}:{study.id}:{digest}",
        args={"study_id": study.id, "send_now": send_now},
        study=study,
        requested_by=actor,
        payload=text,
        max_attempts=2,
        now=now,
    )
    return job


def issue_link(
    session: Session, participation: Participation, *, purpose: str, now: datetime
) -> str:
    """Create a new private link; returns the token (the only time it exists in clear)."""
    token = new_token()
    participation.links.append(
        AccessLink(token_hash=hash_token(token), purpose=purpose, created_at=now)
    )
    session.flush()
    return token


def revoke_links(
    session: Session, participation: Participation, *, actor: User | None, now: datetime
) -> int:
    """Revoke every private link of a participation and end its sessions; returns how many."""
    count = 0
    for link in participation.links:
        if link.revoked_at is None:
            link.revoked_at = now
            count += 1
    session.execute(
        update(ExpertSession)
        .where(
            ExpertSession.participation_id == participation.id, ExpertSession.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    session.flush()
    # in an anonymous study the count stays out of the log: each reminder adds a link, so how
    # many someone held tells how many rounds they had not submitted when reminded
    counted: dict[str, Any] = {} if participation.study.is_anonymous else {"links": count}
    audit.record(
        session,
        action="panel.revoke_links",
        now=now,
        actor=actor,
        study=participation.study,
        target=_audit_target(participation),
        **counted,
    )
    return count


def reissue_link(
    session: Session, participation: Participation, *, actor: User | None, now: datetime
) -> str:
    """Revoke the old links and issue a fresh one (e.g. a link was forwarded by mistake)."""
    if participation.status == ParticipationStatus.WITHDRAWN:
        raise ValidationError("This expert has withdrawn; reinstate them first.")
    revoke_links(session, participation, actor=actor, now=now)
    token = issue_link(session, participation, purpose="manual", now=now)
    audit.record(
        session,
        action="panel.reissue_link",
        now=now,
        actor=actor,
        study=participation.study,
        target=_audit_target(participation),
    )
    return token


def set_withdrawn(
    session: Session,
    participation: Participation,
    withdrawn: bool,
    *,
    actor: User | None,
    now: datetime,
) -> None:
    """Withdraw an expert (their links stop working) or reinstate them."""
    if not withdrawn and participation.expert.erased_at is not None:
        raise ValidationError(
            "This expert's name and email were erased at their request: they cannot be "
            "reinstated (add them again if they wish to return)."
        )
    old = participation.status
    if withdrawn:
        revoke_links(session, participation, actor=actor, now=now)
        participation.status = ParticipationStatus.WITHDRAWN
    else:
        participation.status = (
            ParticipationStatus.ACTIVE if participation.consent_at else ParticipationStatus.INVITED
        )
        session.flush()
        _assign_pairs_if_open(session, participation.study, now)
    session.flush()
    audit.record(
        session,
        action="panel.withdraw" if withdrawn else "panel.reinstate",
        now=now,
        actor=actor,
        study=participation.study,
        target=_audit_target(participation),
        old=old,
        new=participation.status,
    )


def participation_for(session: Session, study: Study, participation_id: int) -> Participation:
    """A participation of this study (NotFoundError for another study's)."""
    participation = session.get(Participation, participation_id)
    if participation is None or participation.study_id != study.id:
        raise NotFoundError("No such panel member.")
    return participation


def panel(session: Session, study: Study) -> list[Participation]:
    """The study's panel, by group then pseudonym."""
    query = (
        select(Participation)
        .where(Participation.study_id == study.id)
        .order_by(Participation.group, Participation.pseudonym)
    )
    return list(session.scalars(query))


def open_session_from_link(session: Session, token: str, now: datetime) -> str | None:
    """Exchange a private link's token for a new expert session token; None if the link is
    unknown, revoked or withdrawn (deliberately indistinguishable)."""
    link = session.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token)))
    if link is None or link.revoked_at is not None:
        return None
    participation = link.participation
    if participation.status == ParticipationStatus.WITHDRAWN:
        return None
    link.last_used_at = now
    session_token = new_token()
    session.add(
        ExpertSession(
            participation_id=participation.id,
            token_hash=hash_token(session_token),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return session_token


def load_expert_session(session: Session, session_token: str) -> Participation | None:
    """The participation behind a live expert session, else None."""
    row = session.scalar(_expert_session_query(), {"token_hash": hash_token(session_token)})
    if row is None or row.revoked_at is not None:
        return None
    participation = row.participation
    if participation.status == ParticipationStatus.WITHDRAWN:
        return None
    return participation


@functools.cache
def _expert_session_query() -> Select[tuple[ExpertSession]]:
    """An expert session by token hash, with its participation and study: every expert
    request runs it, so it is built once (with a bound parameter)."""
    return (
        select(ExpertSession)
        .where(ExpertSession.token_hash == bindparam("token_hash"))
        # every expert request needs these three: one round trip, not three; the study's
        # long texts and record (some 20 kB of JSON) load only on the pages that show them
        .options(
            joinedload(ExpertSession.participation)
            .joinedload(Participation.study)
            .options(
                defer(Study.source),
                defer(Study.description),
                defer(Study.welcome),
                defer(Study.consent),
                defer(Study.record),
            )
        )
    )


def end_expert_session(session: Session, session_token: str, now: datetime) -> None:
    """Revoke one expert session (the expert signed out on a shared computer)."""
    session.execute(
        update(ExpertSession)
        .where(ExpertSession.token_hash == hash_token(session_token))
        .values(revoked_at=now)
    )


def record_consent(
    session: Session, participation: Participation, *, language: str, now: datetime
) -> None:
    """The expert agreed to take part: activate the participation and keep their language."""
    if participation.consent_at is None:
        participation.consent_at = now
    participation.status = ParticipationStatus.ACTIVE
    if language in participation.study.languages:
        participation.language = language
    session.flush()


def set_language(session: Session, participation: Participation, language: str) -> None:
    """Remember the expert's chosen language (answers are stored language-independently)."""
    if language not in participation.study.languages:
        raise ValidationError(f"'{language[:10]}' is not a language of this study.")
    participation.language = language
    session.flush()


def set_expertise(session: Session, participation: Participation, expertise: int | None) -> None:
    """Record the expert's self-rated expertise (1-5), used for weighted pooling."""
    if expertise is not None and not 1 <= expertise <= 5:
        raise ValidationError("Expertise is rated from 1 to 5.", {"expertise": ["1 to 5."]})
    participation.expertise = expertise
    session.flush()
