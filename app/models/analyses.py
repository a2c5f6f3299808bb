"""Heavy analyses of a closed round, computed once and kept (scenarios, trend impact, weights)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.models.base import Base, utcnow


class StoredAnalysis(Base):
    """One analysis of one snapshot (e.g. the scenario results at the report's seed), kept so
    that every later report, export and results page reads it instead of computing it again."""

    __tablename__ = "stored_analyses"
    __table_args__ = (UniqueConstraint("snapshot_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: (the unique constraint's index serves lookups by snapshot)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    #: what was computed and with which arguments ("scenarios:seed=42", "tia:seed=42", ...)
    kind: Mapped[str] = mapped_column(String(120))
    #: sha256 of the settings, the study's other inputs and the code it was computed with;
    #: another value means compute it again
    fingerprint: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    compute_seconds: Mapped[float] = mapped_column(default=0.0)
    #: HMAC-SHA256 of the payload under the app's secret key: a payload that fails it is not read
    signature: Mapped[str] = mapped_column(String(64))
    #: the result object, pickled (read only after the signature checks out)
    payload: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
