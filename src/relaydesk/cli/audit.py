"""`relaydesk audit verify | checkpoints`: check the audit hash chains; export checkpoints and chain heads.

`verify` recomputes every chain from its latest retention checkpoint (or genesis) and reports edited,
removed, inserted or reordered rows and forged checkpoints. `checkpoints` prints, one JSON object per
line, every retention checkpoint and the current head of every chain, each MAC'd under a master subkey:
keep that output on write-once storage, and `verify --against <file>` later detects what the database
alone cannot — a removed *tail* of a chain, or a chain rewritten from the start.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from relaydesk.cli import errors

PLATFORM_LABEL = "(platform)"


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


async def _chain_ids(session, slug: str | None) -> tuple[dict[uuid.UUID, str], list[uuid.UUID]]:  # type: ignore[no-untyped-def]
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.models.workspaces import Workspace
    from relaydesk.privacy import audit as audit_log

    names = dict((await session.execute(sa.select(Workspace.id, Workspace.slug))).all())
    if slug:
        return names, [(await resolve_workspace(session, slug)).id]
    return names, await audit_log.chains(session)


def _label(names: dict[uuid.UUID, str], workspace_id: uuid.UUID) -> str:
    if workspace_id == uuid.UUID(int=0):
        return PLATFORM_LABEL
    return names.get(workspace_id) or str(workspace_id)


def _load_exported(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read exported checkpoints from {path}: {exc}") from None


@audit.command("verify")
@click.option(
    "--workspace", "slug", default=None, help="Only this workspace (slug or name); default: every chain."
)
@click.option(
    "--against",
    "against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also compare with checkpoints exported earlier by `relaydesk audit checkpoints`.",
)
def audit_verify(slug: str | None, against: Path | None) -> None:
    """Exit 0 when every chain is intact, 1 when a row was edited, removed, inserted or reordered."""
    from relaydesk.privacy import audit as audit_log

    settings = errors.settings()
    exported = _load_exported(against) if against else []

    async def run() -> list[tuple[str, int, list[str]]]:
        async with errors.opened(settings) as runtime:
            async with runtime.db.read() as session:
                names, ids = await _chain_ids(session, slug)
                for item in exported:
                    ws = uuid.UUID(item["workspace_id"])
                    if ws not in ids and slug is None:
                        ids.append(ws)  # a chain that vanished entirely is a problem too
                report = []
                for workspace_id in ids:
                    latest = await audit_log.latest_checkpoint(session, workspace_id)
                    chain = await audit_log.load_chain(
                        session, workspace_id, after=latest.seq if latest else 0
                    )
                    problems = [
                        f"seq {p.seq}: {p.kind}: {p.detail}"
                        for p in await audit_log.verify(session, workspace_id)
                    ]
                    problems += await _compare_exported(
                        session, workspace_id, [e for e in exported if e["workspace_id"] == str(workspace_id)]
                    )
                    report.append((_label(names, workspace_id), len(chain), problems))
                return report

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


async def _compare_exported(session, workspace_id: uuid.UUID, items: list[dict[str, Any]]) -> list[str]:  # type: ignore[no-untyped-def]
    """Each exported head must still be in the chain (or inside a purged range); each exported
    checkpoint must still be in the database unchanged."""
    from relaydesk.models.audit import AuditCheckpoint, AuditEvent
    from relaydesk.privacy import audit as audit_log

    problems: list[str] = []
    latest = await audit_log.latest_checkpoint(session, workspace_id)
    purged_upto = latest.seq if latest else 0
    for item in items:
        seq, expected = int(item["seq"]), str(item["hash"])
        if item["kind"] == "checkpoint":
            stored = (
                await session.execute(
                    sa.select(AuditCheckpoint.hash).where(
                        AuditCheckpoint.workspace_id == workspace_id, AuditCheckpoint.seq == seq
                    )
                )
            ).scalar_one_or_none()
            if stored != expected:
                problems.append(f"seq {seq}: exported: checkpoint missing or changed in the database")
            continue
        if seq <= purged_upto:
            continue  # purged by retention since the export, accounted for by a checkpoint
        stored = (
            await session.execute(
                sa.select(AuditEvent.hash).where(
                    AuditEvent.workspace_id == workspace_id, AuditEvent.seq == seq
                )
            )
        ).scalar_one_or_none()
        if stored is None:
            problems.append(f"seq {seq}: exported: head row missing (chain truncated?)")
        elif stored != expected:
            problems.append(f"seq {seq}: exported: head row differs (chain rewritten?)")
    return problems


@audit.command("checkpoints")
@click.option(
    "--workspace", "slug", default=None, help="Only this workspace (slug or name); default: every chain."
)
def audit_checkpoints(slug: str | None) -> None:
    """Print retention checkpoints and current chain heads as JSON lines, for write-once storage."""
    from relaydesk.privacy import audit as audit_log

    settings = errors.settings()

    async def run() -> list[dict[str, Any]]:
        async with errors.opened(settings) as runtime:
            async with runtime.db.read() as session:
                names, ids = await _chain_ids(session, slug)
                out: list[dict[str, Any]] = []
                for workspace_id in ids:
                    label = _label(names, workspace_id)
                    for cp in await audit_log.checkpoints(session, workspace_id):
                        out.append(
                            {
                                "kind": "checkpoint",
                                "workspace": label,
                                "workspace_id": str(workspace_id),
                                "seq": cp.seq,
                                "hash": cp.hash,
                                "last_occurred_at": cp.last_occurred_at.isoformat(),
                                "purged": cp.purged,
                                "key_id": cp.key_id,
                                "mac": cp.mac,
                            }
                        )
                    head = await audit_log.chain_head(session, workspace_id)
                    if head is not None:
                        key_id, mac = audit_log.head_mac(workspace_id, head.seq, head.hash)
                        out.append(
                            {
                                "kind": "head",
                                "workspace": label,
                                "workspace_id": str(workspace_id),
                                "seq": head.seq,
                                "hash": head.hash,
                                "occurred_at": head.occurred_at.isoformat(),
                                "key_id": key_id,
                                "mac": mac,
                            }
                        )
                return out

    for item in asyncio.run(run()):
        click.echo(json.dumps(item, sort_keys=True))
