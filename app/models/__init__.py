"""SQLAlchemy 2.0 typed models; importing this package registers every table on Base.metadata."""

from app.models.accounts import ApiKey, Role, User, UserSession
from app.models.analyses import StoredAnalysis
from app.models.answers import Answer, AnswerDraft, SaveRequest, Suggestion
from app.models.assignments import PairAssignment
from app.models.audit import AuditEvent
from app.models.base import Base, utcnow
from app.models.drafts import StudyDraft
from app.models.errors import (
    AnonymityError,
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    RoundClosedError,
    RoundStateError,
    StateError,
    ValidationError,
)
from app.models.jobs import EmailStatus, Job, JobStatus, OutgoingEmail, ReminderRun, ReportFile
from app.models.panel import (
    AccessLink,
    Expert,
    ExpertSession,
    Participation,
    ParticipationStatus,
)
from app.models.resolutions import Resolution, ResolutionKind
from app.models.rounds import Round, RoundItem, RoundProgress, RoundState, Snapshot
from app.models.studies import (
    Category,
    Item,
    ItemStatus,
    ItemVersion,
    MemberRole,
    Question,
    Scale,
    Scenario,
    Study,
    StudyMember,
    StudyStatus,
    pick_text,
)

__all__ = [
    "AccessLink",
    "AnonymityError",
    "Answer",
    "AnswerDraft",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Category",
    "ConflictError",
    "DomainError",
    "EmailStatus",
    "Expert",
    "ExpertSession",
    "Item",
    "ItemStatus",
    "ItemVersion",
    "Job",
    "JobStatus",
    "MemberRole",
    "NotFoundError",
    "OutgoingEmail",
    "PairAssignment",
    "Participation",
    "ParticipationStatus",
    "PermissionDeniedError",
    "Question",
    "ReminderRun",
    "ReportFile",
    "Resolution",
    "ResolutionKind",
    "Role",
    "Round",
    "RoundClosedError",
    "RoundItem",
    "RoundProgress",
    "RoundState",
    "RoundStateError",
    "SaveRequest",
    "Scale",
    "Scenario",
    "Snapshot",
    "StateError",
    "StoredAnalysis",
    "Study",
    "StudyDraft",
    "StudyMember",
    "StudyStatus",
    "Suggestion",
    "User",
    "UserSession",
    "ValidationError",
    "pick_text",
    "utcnow",
]
