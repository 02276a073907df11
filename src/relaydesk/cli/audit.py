"""`relaydesk audit verify`: recompute the audit hash chains and report edited, removed or reordered rows."""

from __future__ import annotations

import asyncio
import uuid

import click
import sqlalchemy as sa

from relaydesk.config import ConfigError, load_settings


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@click.option("--workspace", "slug", default=None, help="Only this workspace (slug); default: every chain.")
def audit_verify(slug: str | None) -> None:
    """Exit 0 when every chain is intact, 1 when a row was edited, removed, inserted or reordered."""
    from relaydesk.models.workspaces import Workspace
    from relaydesk.privacy import audit as audit_log
    from relaydesk.privacy.audit_chain import verify_chain
    from relaydesk.runtime import build_runtime

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> list[tuple[str, int, list[str]]]:
        runtime = build_runtime(settings)
        try:
            async with runtime.db.read() as session:
                names = dict((await session.execute(sa.select(Workspace.id, Workspace.slug))).all())
                if slug:
                    ids = [i for i, s in names.items() if s == slug]
                    if not ids:
                        raise click.ClickException(f"no workspace {slug!r}")
                else:
                    ids = await audit_log.chains(session)
                report = []
                for workspace_id in ids:
                    chain = await audit_log.load_chain(session, workspace_id)
                    problems = verify_chain(chain, workspace_id)
                    label = names.get(workspace_id) or (
                        "(platform)" if workspace_id == uuid.UUID(int=0) else str(workspace_id)
                    )
                    report.append(
                        (label, len(chain), [f"seq {p.seq}: {p.kind}: {p.detail}" for p in problems])
                    )
                return report
        finally:
            await runtime.stop()

    report = asyncio.run(run())
    broken = False
    for label, rows, problems in report:
        if problems:
            broken = True
            click.echo(f"{label}: {rows} rows, {len(problems)} problem(s)")
            for line in problems:
                click.echo(f"  {line}")
        else:
            click.echo(f"{label}: {rows} rows, intact")
    if broken:
        raise SystemExit(1)
