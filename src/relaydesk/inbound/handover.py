"""The hand-overs around the inbound intake: what is submitted to it, and the job that processes what it
stored.

What goes in is an `Arrival` (a verified, validated request, its body sealed) for a `KnownInbox`; whoever
submits one (the webhook door, a channel's background receiver through `Services.inbound`) needs only the
`Submitter` protocol, not the intake. The intake (inbound/intake.py) writes one `inbound.process` job per workspace and batch, and, when this
process runs a dispatcher, hands the job over already claimed with the requests it has parsed attached, so
the first attempt parses nothing twice. Both sides agree on that format here, in the inbound package: the
intake depends on nothing of the jobs it feeds (the dispatcher is only a `Taker`), and the processing code
(actions/inbound_events.py, run by jobs/handlers/inbound.py) reads the same format back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from relaydesk.channels.spec import Parsed
from relaydesk.models.jobs import Job

#: The job kind of a batch of stored inbound events (coalescing: batches of one workspace run together).
PROCESS_KIND = "inbound.process"
#: One event of a failed batch, retried on its own (never coalesces).
PROCESS_ONE_KIND = "inbound.process_event"

#: Events per processing transaction, and per intake transaction. Each costs about a millisecond of writer
#: time (bench/README.md, "Ingest"), so a batch holds SQLite's one writer, and with it new
#: acknowledgements, for tens of ms at most.
BATCH_EVENTS = 32

# Attribute of a Job object that carries its requests already parsed (set by the intake).
PREPARED = "relaydesk_prepared"


@dataclass(frozen=True)
class Prepared:
    """An inbound event as the intake stored it, with the adapter's parse of its body."""

    id: uuid.UUID
    inbox_id: uuid.UUID
    workspace_id: uuid.UUID
    channel_type: str
    parsed: Parsed


@dataclass(frozen=True)
class KnownInbox:
    """What the webhook door needs of an inbox, cached for a moment (the credentials are unsealed once)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    credentials: dict[str, Any]


@dataclass
class Arrival:
    """One verified, validated provider request, its body already sealed."""

    inbox: KnownInbox
    channel: str
    dedupe_key: str | None
    signature_hash: str | None
    sealed_body: bytes
    received_at: dt.datetime
    parsed: Parsed
    # The few headers `parse` reads again from a stored event (the channel's `kept_headers`).
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """`accepted` (stored now), `duplicate` (stored before: `event_id` is the original) or `replay`."""

    status: str
    event_id: uuid.UUID | None


class Submitter(Protocol):
    """The intake as its callers see it: store one arrival (with whatever else arrives meanwhile, in one
    transaction) and return once it is committed."""

    async def submit(self, arrival: Arrival) -> Outcome: ...


class Taker(Protocol):
    """What the intake needs of an in-process job dispatcher: its identity and lease to write claimed
    jobs with, and a way to hand them over once committed."""

    @property
    def worker_id(self) -> str: ...

    @property
    def lease_seconds(self) -> float: ...

    def adopt(self, jobs: list[Job]) -> None: ...


def job_payload(event_ids: list[str]) -> dict[str, Any]:
    return {"inbound_event_ids": event_ids}


def event_ids(payload: dict[str, Any]) -> list[uuid.UUID]:
    """The batch's events (`inbound_event_id` is the one-event form jobs had before batching)."""
    raw = payload.get("inbound_event_ids") or [payload["inbound_event_id"]]
    return [uuid.UUID(value) for value in raw]


def prepared_of(jobs: list[Job]) -> dict[uuid.UUID, Prepared] | None:
    """The parsed requests the intake attached to `jobs`, or None when any job came without them (claimed
    from the table, or a retry: then the stored bodies are read back)."""
    prepared: dict[uuid.UUID, Prepared] = {}
    for job in jobs:
        carried = getattr(job, PREPARED, None) if job.attempts == 1 else None
        if carried is None:
            return None
        prepared.update(carried)
    return prepared


def attach_prepared(job: Job, prepared: dict[uuid.UUID, Prepared]) -> None:
    setattr(job, PREPARED, prepared)
