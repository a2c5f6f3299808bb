"""Studies: creation from a survey definition, and who may see them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind, SurveyDefinition, Text
from app.definitions.serialize import definition_to_dict
from app.messages import N_
from app.models import (
    Category,
    Item,
    ItemVersion,
    MemberRole,
    NotFoundError,
    PermissionDeniedError,
    Question,
    Scale,
    Scenario,
    StateError,
    Study,
    StudyMember,
    User,
    ValidationError,
)
from app.services import audit


def _texts(text: Text) -> dict[str, str]:
    """A plain dict copy of a translated text."""
    return dict(text)


def import_study(
    session: Session, definition: SurveyDefinition, *, actor: User | None, now: datetime
) -> Study:
    """Create a study, its scales, categories, items (version 1), questions and scenarios."""
    meta = definition.study
    if session.scalar(select(Study.id).where(Study.key == meta.key)) is not None:
        raise ValidationError(
            f"A study with the key '{meta.key}' exists already; change study.key in the file.",
            {"study.key": ["Already used by another study."]},
        )
    study = Study(
        key=meta.key,
        title=_texts(meta.title),
        description=_texts(meta.description),
        source=meta.source,
        horizon=meta.horizon,
        languages=list(meta.languages),
        default_language=meta.default_language,
        anonymity=meta.anonymity,
        k=meta.k,
        k_comments=meta.k_comments,
        round_limit=meta.round_limit,
        quantile_method=meta.quantile_method,
        reason_outside_iqr=meta.reason_outside_iqr,
        suggestions_enabled=meta.suggestions,
        page_by=meta.page_by,
        conditional_pairs_per_expert=meta.conditional_pairs_per_expert,
        consensus_rule=definition.rules.consensus,
        stability_rule=definition.rules.stability,
        compare_presets=list(definition.rules.compare_presets),
        welcome=_texts(meta.welcome),
        consent=_texts(meta.consent),
        definition=definition_to_dict(definition),
        record=definition.record.as_dict(),
        definition_hash=definition.source_hash,
        created_at=now,
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(study)
    if actor is not None:
        study.members.append(StudyMember(user_id=actor.id, role=MemberRole.OWNER))

    scales = {key: _scale_row(scale_key=key, definition=definition) for key in definition.scales}
    study.scales.extend(scales.values())
    categories = {
        c.key: Category(key=c.key, label=_texts(c.label), position=i)
        for i, c in enumerate(definition.categories)
    }
    study.categories.extend(categories.values())
    for position, spec in enumerate(definition.items):
        item = Item(
            key=spec.key,
            kind=spec.kind,
            category=categories.get(spec.category) if spec.category else None,
            position=position,
            source=spec.source,
            true_value=spec.true_value,
            unit=_texts(spec.unit),
            baseline={str(year): value for year, value in sorted(spec.baseline.items())},
            relative_impacts=spec.relative_impacts,
        )
        item.versions.append(
            ItemVersion(
                number=1,
                title=_texts(spec.title),
                text=_texts(spec.text),
                change_note={},
                introduced_in_round=1,
                created_at=now,
            )
        )
        for q_position, question_key in enumerate(spec.questions):
            item.questions.append(
                _question_row(definition, question_key, q_position, scales, item_key=spec.key)
            )
        study.items.append(item)
    for position, scenario in enumerate(definition.scenarios):
        study.scenarios.append(
            Scenario(
                key=scenario.key,
                title=_texts(scenario.title),
                description=_texts(scenario.description),
                expression=scenario.expression,
                position=position,
            )
        )
    session.flush()
    audit.record(
        session,
        action="study.create",
        now=now,
        actor=actor,
        study=study,
        target=f"study {study.key}",
        definition_hash=definition.source_hash,
        items=len(definition.items),
    )
    return study


def _scale_row(*, scale_key: str, definition: SurveyDefinition) -> Scale:
    """A Scale row from the definition's scale."""
    spec = definition.scales[scale_key]
    return Scale(
        key=spec.key,
        kind=spec.kind,
        min=spec.min,
        max=spec.max,
        step=spec.step,
        labels={str(point): _texts(text) for point, text in sorted(spec.labels.items())},
        bipolar=spec.bipolar,
        agree_region=list(spec.agree_region) if spec.agree_region else None,
        agree_within=spec.agree_within,
        consensus=spec.consensus,
        unit=_texts(spec.unit),
    )


def _question_row(
    definition: SurveyDefinition,
    question_key: str,
    position: int,
    scales: Mapping[str, Scale],
    *,
    item_key: str,
) -> Question:
    """A Question row for one item from the definition's question template."""
    spec = definition.questions[question_key]
    config: dict[str, Any] = {}
    if spec.horizons:
        config["horizons"] = list(spec.horizons)
    if spec.quantiles:
        config["quantiles"] = list(spec.quantiles)
    if spec.given:
        config["given"] = [key for key in spec.given if key != item_key]
    if spec.trend:
        config["trend"] = spec.trend
    if spec.kind is QuestionKind.INFLUENCE:
        # the row's columns: every other variable, in file order (the diagonal is not asked)
        config["columns"] = [v.key for v in definition.variables if v.key != item_key]
    if spec.kind is QuestionKind.ACTOR_INFLUENCE:
        config["columns"] = [a.key for a in definition.actors if a.key != item_key]
    if spec.kind is QuestionKind.CROSS_IMPACT:
        # the row variants of this descriptor, each rated on every variant of the others; the
        # variants' titles travel with the question (descriptors keep no variants of their own)
        own = definition.item(item_key)
        others = [d for d in definition.descriptors if d.key != item_key]
        config["rows"] = [v.key for v in own.variants]
        config["descriptors"] = {d.key: _texts(d.title) for d in others}
        config["labels"] = {
            f"{d.key}|{v.key}": _texts(v.title) for d in (own, *others) for v in d.variants
        }
        config["columns"] = [
            f"{row}|{d.key}|{v.key}" for row in config["rows"] for d in others for v in d.variants
        ]
    if spec.kind is QuestionKind.POSITIONS:
        # objectives are no items: their titles travel with the question that names them
        config["columns"] = [o.key for o in definition.objectives]
        config["labels"] = {o.key: _texts(o.title) for o in definition.objectives}
    config["max_length"] = spec.max_length
    return Question(
        key=spec.key,
        kind=spec.kind,
        position=position,
        scale=scales[spec.scale] if spec.scale else None,
        prompt=_texts(spec.prompt),
        help=_texts(spec.help),
        required=spec.required,
        allow_no_answer=spec.allow_no_answer,
        config=config,
        from_round=spec.from_round,
    )


def studies_for(session: Session, user: User) -> list[Study]:
    """The studies a user may see: all for admins, their memberships otherwise."""
    query = select(Study).order_by(Study.created_at.desc(), Study.id.desc())
    if not user.is_admin:
        query = query.join(StudyMember).where(StudyMember.user_id == user.id)
    return list(session.scalars(query))


def study_for(session: Session, user: User, study_id: int) -> Study:
    """The study if the user may act on it; NotFoundError otherwise (no hint that it exists)."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFoundError("No such study.")
    if user.is_admin:
        return study
    member = session.get(StudyMember, (study.id, user.id))
    if member is None:
        raise NotFoundError("No such study.")
    return study


def role_of(session: Session, study: Study, user: User) -> MemberRole | None:
    """The user's role in the study, or None if they are not on its team."""
    member = session.get(StudyMember, (study.id, user.id))
    return MemberRole(member.role) if member is not None else None


def may_manage(session: Session, study: Study, user: User) -> bool:
    """Whether the user may manage the study's team and finish it: its owners and admins."""
    return user.is_admin or role_of(session, study, user) == MemberRole.OWNER


def require_owner(session: Session, study: Study, actor: User | None) -> None:
    """Raise PermissionDeniedError unless `actor` owns the study (None: the command line)."""
    if actor is not None and not may_manage(session, study, actor):
        raise PermissionDeniedError(
            N_("Only the study's owners can do this; ask one of them (see the team page).")
        )


def _locked_members(session: Session, study: Study) -> list[StudyMember]:
    """The study's team, its rows locked until the transaction ends, so that two owners who
    demote or remove each other at once cannot leave the study without one."""
    return list(
        session.scalars(
            select(StudyMember).where(StudyMember.study_id == study.id).with_for_update()
        )
    )


def _keep_an_owner(members: list[StudyMember], changed: StudyMember) -> None:
    """Raise StateError if `changed` is the study's last owner."""
    owners = [m for m in members if m.role == MemberRole.OWNER]
    if changed.role == MemberRole.OWNER and len(owners) <= 1:
        raise StateError(N_("A study needs at least one owner: make someone else owner first."))


def member_of(session: Session, study: Study, user_id: int) -> StudyMember:
    """A member of the study's team (NotFoundError for anyone else)."""
    member = session.get(StudyMember, (study.id, user_id))
    if member is None:
        raise NotFoundError("No such team member.")
    return member


def add_member(
    session: Session,
    study: Study,
    user: User,
    *,
    actor: User | None,
    now: datetime,
    role: MemberRole = MemberRole.MEMBER,
) -> StudyMember:
    """Give another facilitator access to the study (owners only)."""
    require_owner(session, study, actor)
    existing = session.get(StudyMember, (study.id, user.id))
    if existing is not None:
        return existing
    member = StudyMember(study_id=study.id, user_id=user.id, role=role)
    session.add(member)
    session.flush()
    audit.record(
        session,
        action="study.add_member",
        now=now,
        actor=actor,
        study=study,
        target=user.email,
        role=str(role),
    )
    return member


def set_member_role(
    session: Session,
    study: Study,
    member: StudyMember,
    role: MemberRole,
    *,
    actor: User | None,
    now: datetime,
) -> None:
    """Make a team member an owner or a member (owners only; one owner always remains)."""
    require_owner(session, study, actor)
    members = _locked_members(session, study)
    if member.role == role:
        return
    if role != MemberRole.OWNER:
        _keep_an_owner(members, member)
    old = member.role
    member.role = role
    session.flush()
    audit.record(
        session,
        action="study.member_role",
        now=now,
        actor=actor,
        study=study,
        target=member.user.email,
        old=old,
        new=str(role),
    )


def remove_member(
    session: Session, study: Study, member: StudyMember, *, actor: User | None, now: datetime
) -> None:
    """Take a facilitator off the study's team (owners only; one owner always remains)."""
    require_owner(session, study, actor)
    _keep_an_owner(_locked_members(session, study), member)
    email = member.user.email
    session.delete(member)
    session.flush()
    audit.record(
        session, action="study.remove_member", now=now, actor=actor, study=study, target=email
    )
