"""A study and what its survey file defines: scales, categories, items (versioned), questions, scenarios."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.definitions.model import Anonymity
from app.models.base import Base, utcnow
from app.models.errors import AnonymityError, StateError

if TYPE_CHECKING:
    from app.models.accounts import User

#: anonymity modes from the weakest to the strictest
_ANONYMITY_STRENGTH = {Anonymity.CONFIDENTIAL: 0, Anonymity.ANONYMOUS: 1}


class StudyStatus(StrEnum):
    """Where a study is in its life."""

    DRAFT = "draft"  #: being prepared; no round opened yet
    RUNNING = "running"  #: launched: at least one round has been opened
    FINISHED = "finished"  #: the facilitators ended it; results are final


def pick_text(texts: dict[str, str] | None, language: str, fallback: str) -> str:
    """The text in `language`, else in `fallback`, else any, else an empty string."""
    if not texts:
        return ""
    return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")


class Study(Base):
    """A Delphi study, created from a survey file."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[dict[str, Any]]  #: language -> text
    description: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(Text, default="")
    horizon: Mapped[int]
    languages: Mapped[list[Any]]
    default_language: Mapped[str] = mapped_column(String(8))
    anonymity: Mapped[str] = mapped_column(String(20), default=Anonymity.ANONYMOUS)
    k: Mapped[int] = mapped_column(default=5)  #: smallest group any aggregate is shown for
    k_comments: Mapped[int] = mapped_column(default=5)  #: smallest panel before reasons are shown
    round_limit: Mapped[int] = mapped_column(default=3)
    quantile_method: Mapped[str] = mapped_column(String(10), default="type7")
    reason_outside_iqr: Mapped[bool] = mapped_column(default=True)
    suggestions_enabled: Mapped[bool] = mapped_column(default=True)
    #: how the expert's round is paged: one item per page, or one category per page
    page_by: Mapped[str] = mapped_column(String(10), default="item", server_default="item")
    #: conditional pairs asked of each expert (app.services.burden); None: every pair
    conditional_pairs_per_expert: Mapped[int | None]
    consensus_rule: Mapped[str] = mapped_column(Text)
    stability_rule: Mapped[str] = mapped_column(Text)
    compare_presets: Mapped[list[Any]]
    welcome: Mapped[dict[str, Any]]
    consent: Mapped[dict[str, Any]]
    #: the survey definition as imported (canonical JSON), and the hash of the file's bytes
    definition: Mapped[dict[str, Any]] = mapped_column(deferred=True)  #: large; loaded on use
    definition_hash: Mapped[str] = mapped_column(String(64))
    #: the study record as the facilitators edited it: field -> language -> text (the survey
    #: file's `[record]` is the starting point); None: never edited, the file's record applies
    record: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(20), default=StudyStatus.DRAFT)
    #: automatic reminders: days before a round's deadline at which the experts who have not
    #: submitted are reminded (e.g. [7, 2]); empty: reminders go out only when asked
    reminder_days: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    #: whether an open round closes itself at its deadline (only with at least k submissions)
    close_at_deadline: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: experts who withdrew their answers (a count, never who): the report says how many
    answers_withdrawn: Mapped[int] = mapped_column(default=0, server_default="0")
    #: the study's own invitation and reminder texts: kind -> language -> {subject, body}
    #: (app.services.study_look); a missing one: the default email
    mail_templates: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'")
    )
    #: the study's colours on expert pages and in the report: {"brand": "#1f4e79", ...}
    colours: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    #: the study's logo (PNG or JPEG, checked on upload); large, so loaded on use
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(20))  #: image/png or image/jpeg
    #: sha256 of the logo: the reports' fingerprint reads it instead of the image
    logo_hash: Mapped[str | None] = mapped_column(String(64))

    members: Mapped[list[StudyMember]] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )
    scales: Mapped[list[Scale]] = relationship(cascade="all, delete-orphan")
    categories: Mapped[list[Category]] = relationship(
        cascade="all, delete-orphan", order_by="Category.position"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="study",
        cascade="all, delete-orphan",
        order_by="Item.position",
        foreign_keys="Item.study_id",
    )
    scenarios: Mapped[list[Scenario]] = relationship(
        cascade="all, delete-orphan", order_by="Scenario.position"
    )

    def text(self, field: str, language: str) -> str:
        """A translated study text (title, description, welcome, consent) in `language`."""
        texts: dict[str, str] = getattr(self, field)
        return pick_text(texts, language, self.default_language)

    @property
    def is_anonymous(self) -> bool:
        """Whether nobody, not even facilitators, may link answers to people."""
        return self.anonymity == Anonymity.ANONYMOUS

    def set_anonymity(self, mode: Anonymity) -> None:
        """Change the anonymity mode; after launch it may only become stricter."""
        if self.status != StudyStatus.DRAFT and (
            _ANONYMITY_STRENGTH[mode] < _ANONYMITY_STRENGTH[Anonymity(self.anonymity)]
        ):
            raise AnonymityError(
                "This study has been launched as anonymous; anonymity can only become stricter."
            )
        self.anonymity = mode

    def launch(self, now: datetime) -> None:
        """Mark the study as running (its first round opened)."""
        if self.status == StudyStatus.FINISHED:
            raise StateError("This study is finished; it cannot be launched again.")
        if self.status == StudyStatus.DRAFT:
            self.status = StudyStatus.RUNNING
            self.launched_at = now

    def finish(self, now: datetime) -> None:
        """End the study: no more rounds."""
        self.status = StudyStatus.FINISHED
        self.finished_at = now


class MemberRole(StrEnum):
    """A facilitator's role in one study."""

    OWNER = "owner"  #: runs the study, manages its team and may finish it
    MEMBER = "member"  #: runs the study (panel, rounds, items, results)


class StudyMember(Base):
    """A facilitator's access to a study. Every study keeps at least one owner."""

    __tablename__ = "study_members"
    __table_args__ = (CheckConstraint("role in ('owner', 'member')", name="role"),)

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), default=MemberRole.MEMBER)

    study: Mapped[Study] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Scale(Base):
    """A rating scale of a study (probability, Likert or continuous)."""

    __tablename__ = "scales"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    min: Mapped[float | None]
    max: Mapped[float | None]
    step: Mapped[float] = mapped_column(default=1.0)
    labels: Mapped[dict[str, Any]]  #: point (as string) -> language -> text
    bipolar: Mapped[bool] = mapped_column(default=False)
    agree_region: Mapped[list[Any] | None]
    agree_within: Mapped[float | None]
    consensus: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[dict[str, Any]]


class Category(Base):
    """A group of items."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(default=0)


class ItemStatus(StrEnum):
    """Whether an item is still asked."""

    ACTIVE = "active"
    RETIRED = "retired"  #: reached consensus (or was dropped); no longer asked
    MERGED = "merged"  #: folded into another item


class Item(Base):
    """A development (event), trend or calibration question; its wording lives in versions."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.ACTIVE)
    retired_in_round: Mapped[int | None]  #: last round number that asked it
    retired_reason: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    true_value: Mapped[float | None]  #: calibration items only; never shown to experts
    unit: Mapped[dict[str, Any]]
    baseline: Mapped[dict[str, Any]]  #: trend items: year (as string) -> value
    relative_impacts: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(20), default="survey")  #: survey | suggestion

    study: Mapped[Study] = relationship(back_populates="items", foreign_keys=[study_id])
    # loading many items loads their questions (and scales) in one query each, instead of
    # one query per item when a round's page or save walks them; categories come joined
    category: Mapped[Category | None] = relationship(lazy="joined")
    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="ItemVersion.number"
    )
    questions: Mapped[list[Question]] = relationship(
        back_populates="item",
        cascade="all, delete-orphan",
        order_by="Question.position",
        lazy="selectin",
    )

    @property
    def current_version(self) -> ItemVersion:
        """The latest wording."""
        return self.versions[-1]

    def questions_in(self, round_number: int) -> list[Question]:
        """The questions asked in round `round_number` (some start in a later round)."""
        return [q for q in self.questions if q.from_round <= round_number]

    @property
    def is_active(self) -> bool:
        """Whether the item is still asked in new rounds."""
        return self.status == ItemStatus.ACTIVE

    def retire(self, round_number: int, reason: str) -> None:
        """Stop asking the item from the next round on."""
        if not self.is_active:
            raise StateError(f"Item {self.key} is already {self.status}.")
        self.status = ItemStatus.RETIRED
        self.retired_in_round = round_number
        self.retired_reason = reason

    def reinstate(self) -> None:
        """Ask a retired item again."""
        if self.status != ItemStatus.RETIRED:
            raise StateError(f"Item {self.key} is {self.status}, not retired.")
        self.status = ItemStatus.ACTIVE
        self.retired_in_round = None
        self.retired_reason = None


class ItemVersion(Base):
    """One wording of an item; every answer points to the version its expert saw."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(default=1)
    title: Mapped[dict[str, Any]]
    text: Mapped[dict[str, Any]]
    #: what changed since the previous version, told to experts (language -> text)
    change_note: Mapped[dict[str, Any]]
    introduced_in_round: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship(back_populates="versions")


class Question(Base):
    """A question an item asks (from a template of the survey file)."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("item_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(default=0)
    scale_id: Mapped[int | None] = mapped_column(ForeignKey("scales.id", ondelete="RESTRICT"))
    prompt: Mapped[dict[str, Any]]
    help: Mapped[dict[str, Any]]
    required: Mapped[bool] = mapped_column(default=True)
    allow_no_answer: Mapped[bool] = mapped_column(default=True)
    #: kind-specific settings: horizons, quantiles, given, trend, max_length
    config: Mapped[dict[str, Any]]
    from_round: Mapped[int] = mapped_column(default=1)

    item: Mapped[Item] = relationship(back_populates="questions")
    scale: Mapped[Scale | None] = relationship(lazy="joined")


class Scenario(Base):
    """A named scenario: a Boolean expression over event keys."""

    __tablename__ = "scenarios"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    title: Mapped[dict[str, Any]]
    description: Mapped[dict[str, Any]]
    expression: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
