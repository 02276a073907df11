"""`relaydesk contact export | restrict | object | requests`: answer data-subject requests from the
command line.

`export` records the request like the API does (kind `access`, 30-day deadline, requested by the
operator), builds the archive right here with the same code as the `contacts.export` job, takes its one
download and writes it to `--out` (created, never overwritten, readable by the owner only). `requests`
lists the workspace's requests with their deadlines. `restrict` (or `restrict --lift`) and `object` call
actions/subject_rights.py, as the admin page and the API do, with the operator (`system`) as requester.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from relaydesk.cli import errors


@click.group()
def contact() -> None:
    """Data-subject requests about a contact: export their data, list the requests and deadlines."""


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` for the owner only; an existing file is refused rather than overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@contact.command("export")
@click.option("--workspace", "ref", required=True, help="Workspace slug or name.")
@click.option("--contact", "contact_id", required=True, type=click.UUID, help="The contact's id.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the zip (must not exist yet).",
)
def contact_export(ref: str, contact_id: uuid.UUID, out: Path) -> None:
    """Export everything the workspace holds about a contact to a zip (export.json, schema.json and the
    attachments); recorded as an access request and audited."""
    from relaydesk.actions import exports
    from relaydesk.actions.subject_requests import Requester
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.privacy.audit_chain import ActorKind

    if out.exists():
        raise click.ClickException(f"{out} exists already; name a new file")
    settings = errors.settings()
    operator = Requester(kind=ActorKind.SYSTEM)

    async def run() -> str:
        async with errors.opened(settings) as runtime:
            async with runtime.db.write() as session:
                workspace_id = (await resolve_workspace(session, ref)).id
                export = await exports.request_export(session, workspace_id, contact_id, operator)
                export_id, request_id = export.id, export.request_id
            state = await exports.build_export(runtime.db, workspace_id, export_id)
            if state != "ready":
                raise click.ClickException(f"the export could not be built ({state})")
            async with runtime.db.write() as session:
                data = await exports.download_export(session, workspace_id, contact_id, export_id, operator)
        _write_new(out, data)
        return f"wrote {out} ({len(data)} bytes); access request {request_id} answered"

    click.echo(asyncio.run(run()))


@contact.command("requests")
@click.option("--workspace", "ref", required=True, help="Workspace slug or name.")
def contact_requests(ref: str) -> None:
    """The workspace's data-subject requests, open ones first, with their 30-day deadlines."""
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.db.base import utcnow
    from relaydesk.models.privacy_requests import SubjectRequest

    settings = errors.settings()

    async def run() -> list[SubjectRequest]:
        async with errors.opened(settings) as runtime, runtime.db.read() as session:
            workspace_id = (await resolve_workspace(session, ref)).id
            stmt = (
                sa.select(SubjectRequest)
                .where(SubjectRequest.workspace_id == workspace_id)
                .order_by((SubjectRequest.state != "open"), SubjectRequest.deadline_at)
            )
            return list((await session.execute(stmt)).scalars())

    rows = asyncio.run(run())
    now = utcnow()
    table = Table("request", "kind", "contact", "received", "deadline", "state", "days left")
    for r in rows:
        left = str((r.deadline_at - now).days) if r.state == "open" else ""
        table.add_row(
            str(r.id),
            r.kind,
            str(r.contact_id or "(erased)"),
            r.received_at.strftime("%Y-%m-%d %H:%M"),
            r.deadline_at.strftime("%Y-%m-%d"),
            r.state,
            left,
        )
    Console(width=200).print(table if rows else "no data-subject requests")


def _run_on_contact(ref: str, contact_id: uuid.UUID, act) -> str:  # type: ignore[no-untyped-def]
    """Run `act(session, workspace_id, requester)` in one write transaction of the named workspace."""
    from relaydesk.actions.subject_requests import Requester
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.privacy.audit_chain import ActorKind

    settings = errors.settings()

    async def run() -> str:
        async with errors.opened(settings) as runtime, runtime.db.write() as session:
            workspace_id = (await resolve_workspace(session, ref)).id
            return await act(session, workspace_id, Requester(kind=ActorKind.SYSTEM))

    return asyncio.run(run())


@contact.command("restrict")
@click.option("--workspace", "ref", required=True, help="Workspace slug or name.")
@click.option("--contact", "contact_id", required=True, type=click.UUID, help="The contact's id.")
@click.option("--lift", is_flag=True, help="Lift the restriction instead.")
def contact_restrict(ref: str, contact_id: uuid.UUID, lift: bool) -> None:
    """Restrict a contact's processing (data kept; AI, automations and outgoing webhooks skip them)."""
    from relaydesk.actions import subject_rights

    async def act(session, workspace_id, requester) -> str:  # type: ignore[no-untyped-def]
        request = await subject_rights.set_restriction(session, workspace_id, contact_id, not lift, requester)
        if lift:
            return f"restriction of contact {contact_id} lifted"
        return f"contact {contact_id} restricted" + (f" (request {request.id})" if request else " already")

    click.echo(_run_on_contact(ref, contact_id, act))


@contact.command("object")
@click.option("--workspace", "ref", required=True, help="Workspace slug or name.")
@click.option("--contact", "contact_id", required=True, type=click.UUID, help="The contact's id.")
def contact_object(ref: str, contact_id: uuid.UUID) -> None:
    """Record a contact's objection to automated decisions: AI off for them, open conversations to a
    person with the decision log."""
    from relaydesk.actions import subject_rights

    async def act(session, workspace_id, requester) -> str:  # type: ignore[no-untyped-def]
        request, handed = await subject_rights.object_to_automated_decisions(
            session, workspace_id, contact_id, requester
        )
        return f"objection recorded (request {request.id}); {len(handed)} conversation(s) handed to a person"

    click.echo(_run_on_contact(ref, contact_id, act))
