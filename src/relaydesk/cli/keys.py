"""`relaydesk keys generate | rotate | status`: master keys, online workspace-key rotation and its progress.

`rotate --workspace <slug>` commits the new generation (new writes use it at once), enqueues the
`keys.rekey` job and, unless `--background`, runs the re-wrap batches right here with a progress bar; a
worker running the job at the same time is harmless (batches lock the rotation row; re-wrapping twice
is a no-op). `rotate --master` re-wraps everything under the first key of RELAYDESK_MASTER_KEY.
"""

from __future__ import annotations

import asyncio
import uuid

import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from relaydesk.cli import errors


@click.group()
def keys() -> None:
    """Encryption keys: generate a master key, rotate keys, show rotation progress."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new master key for RELAYDESK_MASTER_KEY (store it in a secret manager, not in the database)."""
    from relaydesk.privacy.crypto import generate_master_key

    click.echo(generate_master_key())


async def _workspace_ids(session, ref: str | None) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    """Every workspace, or the one `ref` names by slug or name."""
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.models.workspaces import Workspace

    if ref:
        return [(await resolve_workspace(session, ref)).id]
    return list((await session.execute(sa.select(Workspace.id).order_by(Workspace.slug))).scalars())


async def _rotate_workspace(runtime, ref: str, background: bool, batch: int, console: Console) -> None:  # type: ignore[no-untyped-def]
    from relaydesk.actions.keys import rotate_workspace_key
    from relaydesk.actions.workspaces import resolve_workspace
    from relaydesk.privacy import rotation

    async with runtime.db.write() as session:
        ws = await resolve_workspace(session, ref)
        workspace_id, slug = ws.id, ws.slug
        rot = await rotate_workspace_key(session, workspace_id, batch=batch)
        target, total = rot.target_key_id, rot.total
    console.print(
        f"[bold]{slug}[/]: new workspace key generation [bold]{target}[/]; {total} contact keys to re-wrap"
    )
    if background:
        console.print("the keys.rekey job will re-wrap them; follow it with `relaydesk keys status`")
        return
    columns = (TextColumn("re-wrapping"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("rekey", total=max(total, 1))
        more = True
        while more:
            async with runtime.db.write() as session:
                more = await rotation.step(session, workspace_id, target, batch=batch)
                state = await rotation.status(session, workspace_id)
            progress.update(task, completed=max(total - state.behind, 0))
        progress.update(task, completed=max(total, 1))
    console.print(f"done: every contact key of {slug} is wrapped under {target}")


@keys.command("rotate")
@click.option("--workspace", "slug", default=None, help="Rotate this workspace's key (slug or name).")
@click.option("--master", is_flag=True, help="Re-wrap everything under the first RELAYDESK_MASTER_KEY entry.")
@click.option("--background", is_flag=True, help="Only enqueue the re-wrap job; workers carry it out.")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True)
def keys_rotate(slug: str | None, master: bool, background: bool, batch: int) -> None:
    """Rotate a workspace key online (old data stays readable), or finish a master-key rotation."""
    from relaydesk.privacy import vault

    if bool(slug) == master:
        raise click.ClickException("give exactly one of --workspace <slug or name> or --master")
    settings = errors.settings()
    console = Console(stderr=True)

    async def run() -> None:
        async with errors.opened(settings) as runtime:
            if master:
                masters = settings.master_key.split(",")
                if len([m for m in masters if m.strip()]) < 2:
                    raise click.ClickException(
                        "set RELAYDESK_MASTER_KEY=<new>,<old> first; the old key is still needed to re-wrap"
                    )
                from relaydesk.actions.keys import rotate_master_key

                async with runtime.db.write() as session:
                    counts = await rotate_master_key(session)
                for name, count in counts.items():
                    console.print(f"{name}: {count} re-wrapped")
                console.print(
                    f"everything is now under master key {vault.ring().current_master.key_id}; remove the old "
                    "key from RELAYDESK_MASTER_KEY and destroy it after your backup horizon"
                )
            else:
                assert slug is not None
                await _rotate_workspace(runtime, slug, background, batch, console)

    asyncio.run(run())


@keys.command("status")
@click.option("--workspace", "slug", default=None, help="Only this workspace (slug or name).")
def keys_status(slug: str | None) -> None:
    """Key generations per workspace and how many contact keys a rotation still has to re-wrap."""
    from relaydesk.privacy import rotation

    settings = errors.settings()
    console = Console()

    async def run() -> None:
        async with errors.opened(settings) as runtime, runtime.db.read() as session:
            states = [await rotation.status(session, ws) for ws in await _workspace_ids(session, slug)]
        table = Table(
            "workspace", "generations", "current", "contact keys", "left to re-wrap", "shredded", "rotation"
        )
        for st in states:
            rot = st.rotation
            if rot is None:
                progress = "-"
            elif rot.finished_at is not None:
                progress = f"{rot.target_key_id} done {rot.finished_at:%Y-%m-%d %H:%M}"
            else:
                progress = f"{rot.target_key_id} running ({rot.done}/{rot.total})"
            table.add_row(
                st.slug,
                ",".join(st.generations) or "-",
                st.current,
                str(st.contact_keys),
                str(st.behind),
                str(st.shredded),
                progress,
            )
        console.print(table)
        behind = [st for st in states if st.behind]
        if behind:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                for st in behind:
                    bar.add_task(st.slug, total=st.contact_keys, completed=st.contact_keys - st.behind)

    asyncio.run(run())
