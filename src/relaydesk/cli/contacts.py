"""`relaydesk contact export | requests`: answer a data-subject access request from the command line.

`export` records the request like the API does (kind `access`, 30-day deadline, requested by the
operator), builds the archive right here with the same code as the `contacts.export` job, takes its one
download and writes it to `--out` (created, never overwritten, readable by the owner only). `requests`
lists the workspace's requests with their deadlines.
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
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.privacy.audit_chain import ActorKind

    if out.exists():
        raise click.ClickException(f"{out} exists already; name a new file")
    settings = errors.settings()
    operator = exports.Requester(kind=ActorKind.SYSTEM)

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
