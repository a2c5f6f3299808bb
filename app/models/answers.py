"""Answers (with their history) and experts' suggestions of new items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.studies import ItemVersion, Question


class Answer(Base):
    """One revision of one expert's answer to one question in one round.

    Every save adds a revision; the latest (`is_current`) counts. Answers point to the
    participation (never the person) and to the item version the expert saw.
    """

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("participation_id", "round_id", "question_id", "revision"),
        UniqueConstraint("participation_id", "idempotency_key"),
        # at most one current revision per expert, round and question, on every database
        Index(
            "uq_answers_current",
            "participation_id",
            "round_id",
            "question_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        # a round's current answers by question: the CSV export reads them a (round, item)
        # at a time, which through ix_answers_round_id would read the whole round each time
        Index(
            "ix_answers_current_round_question",
            "round_id",
            "question_id",
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    item_version_id: Mapped[int] = mapped_column(
        ForeignKey("item_versions.id", ondelete="RESTRICT")
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    #: a single number (probability in percent, Likert point)
    value: Mapped[float | None]
    #: structured values (quantiles, per-horizon probabilities, conditionals, impact profiles)
    value_json: Mapped[dict[str, Any] | None]
    #: free text (reasons, comments)
    text: Mapped[str | None] = mapped_column(Text)
    #: "no answer / outside my expertise"
    no_answer: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=1)
    is_current: Mapped[bool] = mapped_column(default=True)
    #: the client's key for this save; a replay returns the stored answer
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    #: sha256 of the normalised payload, to tell a replay from a reuse of the key with new data
    payload_hash: Mapped[str] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(default=False)
    #: the expert kept their previous round's answer (unchanged, by choice): stability
    #: statistics tell "kept" from "revised" with it
    kept: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    question: Mapped[Question] = relationship()
    item_version: Mapped[ItemVersion] = relationship()


class AnswerDraft(Base):
    """What an expert typed for one question that is not a valid answer (yet).

    Autosave keeps every typed value: a question that is complete and valid becomes an
    Answer revision; one that is incomplete or breaks a rule (one side of a conditional
    pair, quantiles out of order) stays here, exactly as typed, until it is fixed. Drafts
    never enter snapshots; a submit is refused while one is left.
    """

    __tablename__ = "answer_drafts"

    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    #: the raw payload as typed ({value | values | text | no_answer}), strings unparsed
    payload: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SaveRequest(Base):
    """One acknowledged save of one item under the client's idempotency key.

    The key is remembered per request, whatever the save changed: the same key with the
    same body is a replay (answered from here, never written again, even after newer
    saves or the round's close); with another body it is a conflict.
    """

    __tablename__ = "save_requests"
    __table_args__ = (UniqueConstraint("participation_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE")
    )
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    #: sha256 of the item's normalised request body
    body_digest: Mapped[str] = mapped_column(String(64))
    #: what was acknowledged: question key -> {"state": "saved" | "draft", "revision": n}
    outcome: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suggestion(Base):
    """A development an expert suggested (round 1), not linked to the expert."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="new")  #: new | accepted | declined
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
