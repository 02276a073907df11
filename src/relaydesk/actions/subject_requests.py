"""Data-subject requests: the one place that records what a person asked for, with its 30-day deadline
(GDPR art. 12(3)), for every kind (access, restriction, objection). The actions answering them
(actions/exports.py, actions/subject_rights.py) call `record_request` in their own transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.models.privacy_requests import SubjectRequest
from relaydesk.privacy.audit_chain import ActorKind

REQUEST_DEADLINE = dt.timedelta(days=30)  # one month from receipt
KINDS = ("access", "restriction", "objection")


@dataclass(frozen=True)
class Requester:
    """Who records the request: a member (`user_id`, through a session or an API token) or the operator
    (CLI, `system`)."""

    kind: ActorKind | str
    user_id: uuid.UUID | None = None


async def record_request(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    kind: str,
    contact_id: uuid.UUID,
    requester: Requester,
    *,
    answered: bool,
) -> SubjectRequest:
    """A new request of `kind` about the contact, received now; `answered` when the action carrying it
    out is done in the same transaction (restriction, objection), else it stays open (access)."""
    assert kind in KINDS, kind
    now = utcnow()
    request = SubjectRequest(
        workspace_id=workspace_id,
        kind=kind,
        contact_id=contact_id,
        requested_by_kind=str(requester.kind),
        requested_by_user_id=requester.user_id,
        received_at=now,
        deadline_at=now + REQUEST_DEADLINE,
        state="completed" if answered else "open",
        completed_at=now if answered else None,
    )
    session.add(request)
    await session.flush()
    return request
