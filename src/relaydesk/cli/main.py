"""`relaydesk serve | worker | demo | demo-mail | migrate | createadmin | token | keys | jobs | audit | contact`.

Configuration comes from RELAYDESK_* environment variables and an optional TOML file (docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from typing import Any

import click

from relaydesk.auth import scopes as token_scopes
from relaydesk.cli import audit as audit_cli
from relaydesk.cli import contacts as contacts_cli
from relaydesk.cli import demo_mail as demo_mail_cli
from relaydesk.cli import errors
from relaydesk.cli import keys as keys_cli
from relaydesk.config import Settings

_settings = errors.settings


async def _check_master_key(settings: Settings) -> None:
    async with errors.opened(settings):
        pass


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every start at INFO ("setup plugin", "Context impl"); what a start migrated is
    # logged once below, so its chatter shows only when debugging.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _serve(
    settings: Settings, banner: str | None = None, companions: list[tuple[Any, int]] | None = None
) -> None:
    """Serve the app; `companions` are other ASGI apps served on loopback ports beside it (the demo's
    website with the chat widget), stopped together with it."""
    import uvicorn

    from relaydesk.db.migrate import upgrade_sync
    from relaydesk.server.app import create_app

    for revision, doc in upgrade_sync(settings.database_url):
        logging.getLogger("relaydesk.migrate").info("applied migration %s: %s", revision, doc)
    # Refuse a wrong master key here, as one line, rather than from inside the server's start-up.
    asyncio.run(_check_master_key(settings))
    app = create_app(settings)
    if banner:
        click.echo(banner)
    level = settings.log_level.lower()
    if not companions:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=level, access_log=False)
        return

    async def serve_all() -> None:
        servers = [
            uvicorn.Server(
                uvicorn.Config(app, host=settings.host, port=settings.port, log_level=level, access_log=False)
            )
        ] + [
            uvicorn.Server(
                uvicorn.Config(companion, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
            )
            for companion, port in companions
        ]
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        # Each server installs the signal handlers in turn, so one Ctrl-C reaches one of them: stop the rest.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(serve_all())


@click.group(cls=errors.Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Relaydesk: privacy-first omnichannel customer service.

    Errors are reported as one line with a non-zero exit; add --debug for the traceback.
    """
    ctx.meta[errors.DEBUG_KEY] = debug


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
    applied = upgrade_sync(settings.database_url)
    for revision, title in applied:
        click.echo(f"applied {revision}: {title}")
    if settings.master_key:  # without a key, only the schema is touched; the first start keys the database
        asyncio.run(_check_master_key(settings))
    click.echo("database is up to date" if applied else "already up to date")


@main.command()
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--database-url", default=None, help="Default: a relaydesk-demo.db SQLite file here.")
@click.option(
    "--site-port",
    type=int,
    default=None,
    help="Port of the demo website with the chat widget (default: port + 1).",
)
def demo(port: int | None, database_url: str | None, site_port: int | None) -> None:
    """Run Relaydesk with a demo workspace on embedded SQLite; prints the URL and the login."""
    import os

    from relaydesk.db.migrate import upgrade_sync
    from relaydesk.demo import demo_site, seed_demo, seed_demo_widget, wire_demo_mail
    from relaydesk.demo_mail import DemoMailServers

    url = database_url or os.environ.get("RELAYDESK_DATABASE_URL") or "sqlite+aiosqlite:///relaydesk-demo.db"
    # The demo's integrator answers on loopback (demo.py): allow private targets for channel delivery.
    settings = _settings(demo=True, database_url=url, port=port, allow_private_targets="channels")
    _logging(settings)
    upgrade_sync(settings.database_url)
    site_port = site_port or settings.port + 1
    site_url = f"http://127.0.0.1:{site_port}"

    # The demo's own SMTP and IMAP servers on 127.0.0.1, for its e-mail inbox (relaydesk/demo_mail.py).
    mail_servers = DemoMailServers()
    mail = mail_servers.start()

    async def seed() -> tuple[str, str, str]:
        async with errors.opened(settings) as runtime:
            login = await seed_demo(runtime)
            public_id = await seed_demo_widget(runtime, site_url)
            await wire_demo_mail(runtime, mail)
        return login.email, login.password, public_id

    email, password, public_id = asyncio.run(seed())
    banner = (
        f"\n  Relaydesk demo is running at {settings.base_url}/\n"
        f"  Log in as {email} with password {password}\n"
        f"  (agents sam@acme.example and riley@acme.example use the same password)\n"
        f"  API docs: {settings.base_url}/api/v1/schema/swagger\n"
        f"  A website with the chat widget (another origin): {site_url}/\n"
        f"\n  E-mail: the demo runs its own mail servers (SMTP 127.0.0.1:{mail.smtp_port}, "
        f"IMAP 127.0.0.1:{mail.imap_port}).\n"
        f"  Write to {mail.support_address} from another terminal in this folder:\n"
        f'    .venv/bin/relaydesk demo-mail send --from you@example.com "Where is my order?" "It has not arrived."\n'
        f'  It appears in the inbox "Support mail (demo)"; answer it there, then read the answer with:\n'
        f"    .venv/bin/relaydesk demo-mail inbox --for you@example.com\n"
    )
    try:
        _serve(settings, banner, companions=[(demo_site(settings.base_url, public_id), site_port)])
    finally:
        mail_servers.stop()


def _read_password(password_stdin: bool) -> str:
    """From the first line of stdin (scripts), or asked twice on a terminal; never from argv."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise click.ClickException("no terminal to ask for the password; pipe it in with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != password:
        raise click.ClickException("the two passwords differ")
    return password


@main.command()
@click.option("--email", required=True, help="The owner's e-mail address (the login).")
@click.option("--name", default="Administrator", show_default=True, help="The owner's display name.")
@click.option(
    "--workspace",
    "workspace",
    required=True,
    help="Slug or name of the workspace to join as owner; created with this name if none matches.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
def createadmin(email: str, name: str, workspace: str, password_stdin: bool) -> None:
    """Create a user who owns a workspace (a new one, or an existing one named by slug or name).

    The password follows the web app's policy; it is asked twice on a terminal, or read with
    --password-stdin, never taken from the command line.
    """
    from relaydesk.actions.workspaces import add_member, create_user, create_workspace, resolve_workspace
    from relaydesk.auth.password_policy import check_password
    from relaydesk.errors import NotFound

    settings = _settings()
    password = _read_password(password_stdin)
    problems = check_password(password, email=email, context_words=[name, workspace])
    if problems:
        raise click.ClickException("password refused: " + " ".join(problems))

    async def run() -> str:
        async with errors.opened(settings) as runtime, runtime.db.write() as session:
            try:
                ws = await resolve_workspace(session, workspace)
            except NotFound:
                ws = await create_workspace(session, workspace)
            user = await create_user(session, email, name, password)
            await add_member(session, ws.id, user.id, "owner")
            return f"{user.email} now owns workspace {ws.name!r} (slug {ws.slug})"

    click.echo(asyncio.run(run()))


@main.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.option("--email", required=True, help="The token acts as this user.")
@click.option("--workspace", "workspace", required=True, help="Workspace slug or name.")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Repeatable: * (full, the default), *:read (read-only) or <family>:read|write; families: "
    + ", ".join(token_scopes.FAMILIES)
    + ".",
)
def token_create(email: str, workspace: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token and print it once (its scopes go to stderr)."""
    from relaydesk.actions.people import create_api_token

    settings = _settings()

    async def run() -> str:
        async with errors.opened(settings) as runtime, runtime.db.write() as session:
            return await create_api_token(
                session, workspace=workspace, email=email, name=name, scopes=list(scopes) or None
            )

    click.echo(asyncio.run(run()))
    click.echo("scopes: " + " ".join(token_scopes.normalise(list(scopes) or [token_scopes.FULL])), err=True)


main.add_command(keys_cli.keys)
main.add_command(audit_cli.audit)
main.add_command(demo_mail_cli.demo_mail)
main.add_command(contacts_cli.contact)

if __name__ == "__main__":
    main()
