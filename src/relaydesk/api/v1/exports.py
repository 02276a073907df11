"""Per-contact exports (access and portability): request one, follow it, download it once.

`POST /contacts/{id}/exports` records an access request (30-day deadline) and queues the archive;
`GET .../exports` and `GET .../exports/{export_id}` show their state; `POST .../exports/{export_id}/download`
returns the zip to the member who requested it, once, and empties it (a POST: it changes state, and GET
never does). Admins and owners only: an export is the whole of a person's data in one file.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Response, get, post

from relaydesk.actions import exports
from relaydesk.actions.subject_requests import Requester
from relaydesk.auth.guards import requires_admin
from relaydesk.auth.principal import Principal
from relaydesk.models.privacy_requests import ContactExport, SubjectRequest
from relaydesk.privacy.audit_chain import ActorKind
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime


def requester_of(principal: Principal) -> Requester:
    kind = ActorKind.API_TOKEN if principal.via == "token" else ActorKind.USER
    return Requester(kind=kind, user_id=principal.user_id)


def export_json(export: ContactExport, request: SubjectRequest, viewer: uuid.UUID | None) -> dict[str, Any]:
    base = f"/api/v1/contacts/{export.contact_id}/exports/{export.id}"
    downloadable = (
        export.state == "ready"
        and export.requester_user_id is not None
        and export.requester_user_id == viewer
    )
    return {
        "id": str(export.id),
        "contact_id": str(export.contact_id),
        "state": export.state,
        "size": export.size,
        "error": export.error,
        "requested_by_user_id": str(export.requester_user_id) if export.requester_user_id else None,
        "created_at": iso(export.created_at),
        "ready_at": iso(export.ready_at),
        "expires_at": iso(export.expires_at),
        "downloaded_at": iso(export.downloaded_at),
        "download_url": f"{base}/download" if downloadable else None,
        "request": {
            "id": str(request.id),
            "kind": request.kind,
            "state": request.state,
            "received_at": iso(request.received_at),
            "deadline_at": iso(request.deadline_at),
            "completed_at": iso(request.completed_at),
        },
    }


@post("/contacts/{contact_id:uuid}/exports", guards=[requires_admin], status_code=202)
async def exports_create(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Record an access request for the contact and queue its export (202: built by a job)."""
    async with runtime.db.write() as session:
        export = await exports.request_export(
            session, principal.workspace_id, contact_id, requester_of(principal)
        )
        _export, request = await exports.get_export(session, principal.workspace_id, contact_id, export.id)
        return export_json(export, request, principal.user_id)


@get("/contacts/{contact_id:uuid}/exports", guards=[requires_admin])
async def exports_index(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """The contact's exports, newest first."""
    async with runtime.db.read() as session:
        rows = await exports.list_exports(session, principal.workspace_id, contact_id)
    return {"items": [export_json(e, r, principal.user_id) for e, r in rows]}


@get("/contacts/{contact_id:uuid}/exports/{export_id:uuid}", guards=[requires_admin])
async def exports_show(
    contact_id: uuid.UUID, export_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        export, request = await exports.get_export(session, principal.workspace_id, contact_id, export_id)
    return export_json(export, request, principal.user_id)


@post(
    "/contacts/{contact_id:uuid}/exports/{export_id:uuid}/download",
    guards=[requires_admin],
    media_type="application/zip",
    status_code=200,
)
async def exports_download(
    contact_id: uuid.UUID, export_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> Response[bytes]:
    """The archive, once, to its requester (403 for anyone else, 409 while being built, 410 afterwards)."""
    async with runtime.db.write() as session:
        data = await exports.download_export(
            session, principal.workspace_id, contact_id, export_id, requester_of(principal)
        )
    return Response(data, media_type="application/zip", headers=download_headers(export_id))


def download_headers(export_id: uuid.UUID) -> dict[str, str]:
    return {
        "content-disposition": f'attachment; filename="contact-export-{export_id}.zip"',
        "cache-control": "private, no-store",
    }


SCOPE_FAMILY = "contacts"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [exports_create, exports_index, exports_show, exports_download]
