"""`relaydesk serve | worker | demo | migrate | createadmin | token | keys | jobs`.

Configuration comes from RELAYDESK_* environment variables and an optional TOML file (docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import sys

import click

from relaydesk.cli import audit as audit_cli
from relaydesk.cli import keys as keys_cli
from relaydesk.config import ConfigError, Settings, load_settings


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _serve(settings: Settings, banner: str | None = None) -> None:
    import uvicorn

    from relaydesk.db.migrate import upgrade_sync
    from relaydesk.server.app import create_app

    upgrade_sync(settings.database_url)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if banner:
        click.echo(banner)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), access_log=False
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Relaydesk: privacy-first omnichannel customer service."""


@main.command()
@click.option("--host", default=None, help="Bind address (RELAYDESK_HOST).")
@click.option("--port", type=int, default=None, help="Port (RELAYDESK_PORT).")
@click.option(
    "--no-worker", is_flag=True, help="Do not run jobs in this process (separate `relaydesk worker`s do)."
)
def serve(host: str | None, port: int | None, no_worker: bool) -> None:
    """Run the web server (API, inbox, webhooks, realtime); migrates the database first."""
    settings = _settings(host=host, port=port, inprocess_worker=False if no_worker else None)
    _logging(settings)
    _serve(settings)


@main.command()
@click.option("--concurrency", type=int, default=8, show_default=True, help="Jobs run at once.")
def worker(concurrency: int) -> None:
    """Run background jobs (deliveries, inbound processing, AI, retention) until stopped."""
    from relaydesk.jobs.dispatcher import Dispatcher
    from relaydesk.runtime import build_runtime

    settings = _settings()
    _logging(settings)

    async def run() -> None:
        runtime = build_runtime(settings)
        await runtime.start(with_dispatcher=False)
        runtime.dispatcher = Dispatcher(runtime.services, concurrency=concurrency, poll_interval=0.5)
        await runtime.dispatcher.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        click.echo(f"relaydesk worker {runtime.dispatcher.worker_id} running", err=True)
        await stop.wait()
        await runtime.stop()

    asyncio.run(run())


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run repeatedly)."""
    from relaydesk.db.migrate import upgrade_sync

    settings = _settings()
    upgrade_sync(settings.database_url)
    click.echo("database is up to date")


@main.command()
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--database-url", default=None, help="Default: a relaydesk-demo.db SQLite file here.")
def demo(port: int | None, database_url: str | None) -> None:
    """Run Relaydesk with a demo workspace on embedded SQLite; prints the URL and the login."""
    import os

    from relaydesk.db.migrate import upgrade_sync
    from relaydesk.demo import seed_demo
    from relaydesk.runtime import build_runtime

    url = database_url or os.environ.get("RELAYDESK_DATABASE_URL") or "sqlite+aiosqlite:///relaydesk-demo.db"
    settings = _settings(demo=True, database_url=url, port=port)
    _logging(settings)
    upgrade_sync(settings.database_url)

    async def seed() -> tuple[str, str]:
        runtime = build_runtime(settings)
        try:
            login = await seed_demo(runtime)
        finally:
            await runtime.stop()
        return login.email, login.password

    email, password = asyncio.run(seed())
    banner = (
        f"\n  Relaydesk demo is running at {settings.base_url}/\n"
        f"  Log in as {email} with password {password}\n"
        f"  (agents sam@acme.example and riley@acme.example use the same password)\n"
        f"  API docs: {settings.base_url}/api/v1/schema/swagger\n"
    )
    _serve(settings, banner)


@main.command()
@click.option("--email", required=True)
@click.option("--name", default="Administrator", show_default=True)
@click.option(
    "--workspace", "workspace_name", required=True, help="Workspace to create (or join, if it exists)."
)
@click.option("--password", default=None, help="Prompted for when omitted.")
def createadmin(email: str, name: str, workspace_name: str, password: str | None) -> None:
    """Create a user who owns a workspace."""
    import sqlalchemy as sa

    from relaydesk.actions.workspaces import add_member, create_user, create_workspace, slugify
    from relaydesk.models.workspaces import Workspace
    from relaydesk.runtime import build_runtime

    settings = _settings()
    if password is None:
        password = getpass.getpass("Password: ")
    if len(password) < 8:
        raise click.ClickException("the password needs at least 8 characters")

    async def run() -> None:
        runtime = build_runtime(settings)
        try:
            async with runtime.db.write() as session:
                ws = (
                    await session.execute(
                        sa.select(Workspace).where(Workspace.slug == slugify(workspace_name))
                    )
                ).scalar_one_or_none()
                ws = ws or await create_workspace(session, workspace_name)
                user = await create_user(session, email, name, password)
                await add_member(session, ws.id, user.id, "owner")
        finally:
            await runtime.stop()

    try:
        asyncio.run(run())
    except Exception as exc:  # domain errors carry a user-facing message
        raise click.ClickException(str(exc)) from None
    click.echo(f"{email} now owns workspace {workspace_name!r}")


@main.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.option("--email", required=True, help="The token acts as this user.")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--name", default="cli", show_default=True)
def token_create(email: str, slug: str, name: str) -> None:
    """Create an API token and print it once."""
    from relaydesk.actions.people import create_api_token
    from relaydesk.runtime import build_runtime

    settings = _settings()

    async def run() -> str:
        runtime = build_runtime(settings)
        try:
            async with runtime.db.write() as session:
                return await create_api_token(session, slug=slug, email=email, name=name)
        finally:
            await runtime.stop()

    try:
        click.echo(asyncio.run(run()))
    except Exception as exc:
        raise click.ClickException(str(exc)) from None


main.add_command(keys_cli.keys)
main.add_command(audit_cli.audit)

if __name__ == "__main__":
    main()
