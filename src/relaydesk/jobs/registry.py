"""Job handlers by kind. A handler takes ids from the payload and calls actions; it must be idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relaydesk.models.jobs import Job
    from relaydesk.runtime import Runtime


@dataclass
class JobContext:
    runtime: Runtime
    job: Job

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload


Handler = Callable[[JobContext], Awaitable[None]]

_handlers: dict[str, Handler] = {}


class PermanentError(Exception):
    """Retrying cannot help (bad payload, 4xx from a provider): dead-letter at once."""


class RetryLater(Exception):
    """Retry after the given number of seconds (a provider's Retry-After), not the usual backoff."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if kind in _handlers:
            raise ValueError(f"two handlers for job kind {kind!r}")
        _handlers[kind] = fn
        return fn

    return register


_periodic: dict[str, float] = {}


def periodic(kind: str, every_seconds: float) -> Callable[[Handler], Handler]:
    """A handler the dispatchers enqueue every `every_seconds`, once per period across all processes."""

    def register(fn: Handler) -> Handler:
        _periodic[kind] = every_seconds
        return handler(kind)(fn)

    return register


def periodic_jobs() -> dict[str, float]:
    return dict(_periodic)


def get_handler(kind: str) -> Handler | None:
    return _handlers.get(kind)


def load_handlers() -> None:
    """Import every module that registers handlers (kept in one list so a worker knows them all)."""
    import relaydesk.jobs.handlers  # noqa: F401
