"""Restriction, objection and the workspace's data-subject requests (actions/subject_rights.py).

`PUT /contacts/{id}/restriction {restricted}` (admin) restricts or lifts: the data stays, AI, automations
and outgoing webhooks skip the contact. `POST /contacts/{id}/objection` (agent, like the AI switch) records
an objection to automated decisions: AI off for the person, their open conversations handed to a person
with the decision log. `GET /subject-requests` (admin) lists every request with its deadline.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import get, post, put
from litestar.params import Parameter

from relaydesk.actions import subject_rights
from relaydesk.actions.subject_requests import Requester
from relaydesk.api.v1._common import Cursor, Limit, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact
from relaydesk.models.privacy_requests import SubjectRequest
from relaydesk.privacy.audit_chain import ActorKind
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

STATES = ("open", "completed", "failed")


class RestrictionSwitch(msgspec.Struct, forbid_unknown_fields=True):
    restricted: bool


def requester_of(principal: Principal) -> Requester:
    return Requester(ActorKind.API_TOKEN if principal.via == "token" else ActorKind.USER, principal.user_id)


def request_json(request: SubjectRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "kind": request.kind,
        "contact_id": str(request.contact_id) if request.contact_id else None,
        "requested_by_kind": request.requested_by_kind,
        "requested_by_user_id": str(request.requested_by_user_id) if request.requested_by_user_id else None,
        "state": request.state,
        "received_at": iso(request.received_at),
        "deadline_at": iso(request.deadline_at),
        "completed_at": iso(request.completed_at),
    }


def restriction_json(contact: Contact) -> dict[str, Any]:
    return {
        "contact_id": str(contact.id),
        "restricted": contact.restricted_at is not None,
        "restricted_at": iso(contact.restricted_at),
    }


@get("/contacts/{contact_id:uuid}/restriction", guards=[requires_agent])
async def restriction_show(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return restriction_json(await get_scoped(session, Contact, principal.workspace_id, contact_id))


@put("/contacts/{contact_id:uuid}/restriction", guards=[requires_admin])
async def restriction_set(
    contact_id: uuid.UUID, data: RestrictionSwitch, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Restrict the contact's processing (`true`) or lift it; a restriction is recorded as a request."""
    async with runtime.db.write() as session:
        request = await subject_rights.set_restriction(
            session, principal.workspace_id, contact_id, data.restricted, requester_of(principal)
        )
        contact = await get_scoped(session, Contact, principal.workspace_id, contact_id)
        return {**restriction_json(contact), "request": request_json(request) if request else None}


@post("/contacts/{contact_id:uuid}/objection", guards=[requires_agent], status_code=200)
async def objection_create(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """The contact objects to automated decisions: AI off for them, open conversations to a person."""
    async with runtime.db.write() as session:
        request, handed = await subject_rights.object_to_automated_decisions(
            session, principal.workspace_id, contact_id, requester_of(principal)
        )
        return {
            "contact_id": str(contact_id),
            "ai_enabled": False,
            "conversations_handed_over": [str(c) for c in handed],
            "request": request_json(request),
        }


@get("/subject-requests", guards=[requires_admin])
async def requests_index(
    principal: Principal,
    runtime: Runtime,
    request_state: Annotated[
        str | None, Parameter(query="state", description="open, completed or failed")
    ] = None,
    contact_id: Annotated[uuid.UUID | None, Parameter(description="only this contact's")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The workspace's data-subject requests, newest first, with their 30-day deadlines."""
    if request_state is not None and request_state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}")
    stmt = sa.select(SubjectRequest).where(SubjectRequest.workspace_id == principal.workspace_id)
    if request_state is not None:
        stmt = stmt.where(SubjectRequest.state == request_state)
    if contact_id is not None:
        stmt = stmt.where(SubjectRequest.contact_id == contact_id)
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session, stmt, id_column=SubjectRequest.id, cursor=cursor, limit=limit, descending=True
        )
    return {"items": [request_json(r) for r in rows], "next_cursor": next_cursor}


SCOPE_FAMILY = "contacts"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [restriction_show, restriction_set, objection_create, requests_index]
