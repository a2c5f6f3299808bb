"""Domain errors raised by guarded model methods and services; views turn them into messages."""

from typing import Any

from app.messages import Message


class DomainError(Exception):
    """A rule of the domain was broken; the message is shown to the user as it is."""

    #: HTTP status the web layer uses for this error
    status = 400


class StateError(DomainError):
    """An action does not fit the object's current state (e.g. closing a closed round)."""

    status = 409


class RoundStateError(StateError):
    """A round cannot do that in its current state."""


class RoundClosedError(RoundStateError):
    """The round is closed: nothing more can be saved to it."""


class NotFoundError(DomainError):
    """The thing asked for does not exist (or is not visible to the one asking)."""

    status = 404


class PermissionDeniedError(DomainError):
    """The acting user may not do this."""

    status = 403


class ValidationError(DomainError):
    """Input values are wrong; `errors` maps a field name to its messages."""

    status = 422

    def __init__(self, message: str | Message, errors: dict[str, list[Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ConflictError(DomainError):
    """The request conflicts with what is stored (e.g. an idempotency key reused with new data)."""

    status = 409


class AnonymityError(DomainError):
    """A change would weaken a study's anonymity after launch."""

    status = 409
