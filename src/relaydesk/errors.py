"""Domain errors raised by actions; the web layer maps each to one HTTP status and the JSON error format."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    """The thing existed but is no longer available (a one-time download taken, an expired archive)."""

    status = 410
    code = "gone"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class Throttled(DomainError):
    """Too many attempts; `retry_after` whole seconds go out as the `Retry-After` header."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))

    @classmethod
    def after(cls, seconds: float) -> Throttled:
        """The one wording for every throttled attempt, whatever the identifier."""
        wait = int(seconds) + 1
        return cls(f"Too many attempts. Try again in {wait} seconds.", retry_after=wait)

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}
