"""The CLI fails early and clearly: a wrong master key is refused by every command, every error is one
line with a non-zero exit (the traceback only with --debug), `--workspace` takes a slug or a name,
`createadmin` applies the password policy, `migrate` says what it applied, and the audit page's command
works as printed. Commands run in-process against the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import shlex
import tempfile
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from relaydesk.cli.main import main
from relaydesk.models.audit import AuditEvent
from relaydesk.models.keys import MasterKeyCheck
from relaydesk.models.users import User
from relaydesk.models.workspaces import Membership, Workspace
from relaydesk.privacy import storage
from relaydesk.privacy.key_check import MasterKeyMismatch
from relaydesk.server.keys import generate_master_key, parse_master_keys
from tests.web.helpers import login

GOOD_PASSWORD = "a long and unusual pass phrase"


async def invoke(settings, args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:  # type: ignore[no-untyped-def]
    """Run the CLI in a thread, then undo what a command changes process-wide: the key ring, and the
    root log handler `serve`/`worker` install (it would write to the runner's closed stream later)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return await asyncio.to_thread(CliRunner().invoke, main, args, input=stdin, env=env)
    finally:
        storage.configure(parse_master_keys(settings.master_key))
        root.handlers[:] = handlers
        root.setLevel(level)


async def cli(settings, *args: str, key: str | None = None, stdin: str | None = None, **env: str) -> Result:  # type: ignore[no-untyped-def]
    """Run `relaydesk <args>` with the test database and `key` (default: the right one)."""
    environ = {
        "RELAYDESK_DATABASE_URL": settings.database_url,
        "RELAYDESK_MASTER_KEY": settings.master_key if key is None else key,
        "COLUMNS": "200",
        **env,
    }
    return await invoke(settings, list(args), environ, stdin)


def one_line_error(result: Result) -> str:
    """The command failed with exactly one `Error:` line and no traceback (log lines aside: `serve` and
    `worker` log their start-up, e.g. alembic's INFO lines, before the check)."""
    assert result.exit_code == 1, result.output
    lines = [
        line
        for line in result.output.splitlines()
        if line.strip() and not re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", line)
    ]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


async def _check_key_ids(runtime) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        blobs = (await session.execute(sa.select(MasterKeyCheck.check_value))).scalars().all()
    return [bytes(b)[2 : 2 + bytes(b)[1]].decode() for b in blobs]


async def test_a_wrong_master_key_is_refused_by_every_command(runtime, make_workspace, settings):
    ws = await make_workspace()
    assert (await cli(settings, "keys", "status")).exit_code == 0  # keys the database with the right key
    right_id = parse_master_keys(settings.master_key)[0].key_id
    assert await _check_key_ids(runtime) == [right_id]
    wrong = generate_master_key()
    wrong_id = parse_master_keys(wrong)[0].key_id
    commands = [
        ["keys", "status"],
        ["keys", "rotate", "--workspace", ws.slug],
        ["token", "create", "--email", ws.owner.email, "--workspace", ws.slug],
        ["audit", "verify"],
        ["audit", "checkpoints"],
        ["worker"],
    ]
    for command in commands:
        line = one_line_error(await cli(settings, *command, key=wrong))
        assert "does not match this database" in line and right_id in line and wrong_id in line, command
    refused = await cli(
        settings,
        "createadmin",
        "--email",
        "x@example.com",
        "--workspace",
        "New",
        "--password-stdin",
        key=wrong,
        stdin=GOOD_PASSWORD + "\n",
    )
    assert "does not match" in one_line_error(refused)
    async with runtime.db.read() as session:  # nothing was written under the wrong key
        assert (await session.execute(sa.select(Workspace.slug))).scalars().all() == [ws.slug]
    debug = await cli(settings, "--debug", "keys", "status", key=wrong)
    assert debug.exit_code == 1 and isinstance(debug.exception, MasterKeyMismatch)


async def test_serve_refuses_a_wrong_key_before_it_starts(settings):
    """The observed bug: a second `serve` started with a fresh key wrote data the right server could not
    read. A fresh SQLite file is keyed by `migrate`; `serve` with another key stops before listening."""
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'serve.db'}"
    right, wrong = generate_master_key(), generate_master_key()

    def env(key: str) -> dict[str, str]:
        return {"RELAYDESK_DATABASE_URL": url, "RELAYDESK_MASTER_KEY": key}

    assert (await invoke(settings, ["migrate"], env(right))).exit_code == 0
    refused = await invoke(settings, ["serve", "--port", "1"], env(wrong))
    assert "does not match this database" in one_line_error(refused)


async def test_master_rotation_moves_the_check_value_to_the_new_key(runtime, make_workspace, settings):
    ws = await make_workspace()
    old = settings.master_key
    new = generate_master_key()
    new_id = parse_master_keys(new)[0].key_id
    assert (await cli(settings, "keys", "status")).exit_code == 0
    # While both keys are configured (new first), every command runs; the rotation re-seals the check.
    rotated = await cli(settings, "keys", "rotate", "--master", key=f"{new},{old}")
    assert rotated.exit_code == 0, rotated.output
    assert "master_key_check: 1" in rotated.output
    assert await _check_key_ids(runtime) == [new_id]
    # Restart with only the new key: accepted, the workspace still reads; with only the old key: refused.
    status = await cli(settings, "keys", "status", "--workspace", ws.slug, key=new)
    assert status.exit_code == 0, status.output
    assert new_id in one_line_error(await cli(settings, "keys", "status", key=old))


async def test_a_database_keyed_before_the_check_existed_is_checked_against_its_wrapped_keys(
    runtime, make_workspace, settings
):
    from relaydesk.privacy import vault

    ws = await make_workspace()
    async with runtime.db.write() as session:  # a workspace key wrapped under the right master key
        await vault.run(session, lambda ring: ring.current_workspace_key(ws.id))
    assert await _check_key_ids(runtime) == []
    line = one_line_error(await cli(settings, "keys", "status", key=generate_master_key()))
    assert parse_master_keys(settings.master_key)[0].key_id in line
    assert await _check_key_ids(runtime) == []  # the wrong key did not claim the database
    assert (await cli(settings, "keys", "status")).exit_code == 0
    assert await _check_key_ids(runtime) == [parse_master_keys(settings.master_key)[0].key_id]


async def test_every_error_is_one_line(runtime, make_workspace, settings, backend):
    ws = await make_workspace()
    missing = one_line_error(await cli(settings, "keys", "status", key=""))
    assert "RELAYDESK_MASTER_KEY is not set" in missing
    malformed = one_line_error(await cli(settings, "keys", "status", key="rdmk_short"))
    assert "RELAYDESK_MASTER_KEY" in malformed and "rdmk_short" not in malformed
    bad_url = await cli(settings, "keys", "status", RELAYDESK_DATABASE_URL="not a url")
    assert "RELAYDESK_DATABASE_URL is not a database URL" in one_line_error(bad_url)
    sync_driver = await cli(settings, "audit", "verify", RELAYDESK_DATABASE_URL="postgresql://u@127.0.0.1/x")
    assert "supported: sqlite+aiosqlite or postgresql+asyncpg" in one_line_error(sync_driver)
    unreachable = await cli(
        settings,
        "token",
        "create",
        "--email",
        ws.owner.email,
        "--workspace",
        ws.slug,
        RELAYDESK_DATABASE_URL="postgresql+asyncpg://relaydesk:hunter2@127.0.0.1:1/relaydesk",
    )
    line = one_line_error(unreachable)
    assert "cannot reach the database at postgresql+asyncpg://relaydesk:***@127.0.0.1:1/relaydesk" in line
    assert "hunter2" not in line
    no_dir = await cli(
        settings, "keys", "status", RELAYDESK_DATABASE_URL="sqlite+aiosqlite:////no/such/dir/x.db"
    )
    assert "database error at sqlite+aiosqlite:////no/such/dir/x.db" in one_line_error(no_dir)
    unknown_ws = await cli(settings, "token", "create", "--email", ws.owner.email, "--workspace", "nowhere")
    assert one_line_error(unknown_ws) == "Error: no workspace with the slug or name 'nowhere'"
    unknown_user = await cli(
        settings, "token", "create", "--email", "nobody@example.com", "--workspace", ws.slug
    )
    assert one_line_error(unknown_user) == "Error: no user with the e-mail address nobody@example.com"
    for command in (
        ["keys", "status", "--workspace", "nowhere"],
        ["audit", "verify", "--workspace", "nowhere"],
    ):
        assert "no workspace with the slug or name 'nowhere'" in one_line_error(await cli(settings, *command))
    debug = await cli(settings, "--debug", "keys", "status", key="")
    assert (
        debug.exit_code == 1
        and debug.exception is not None
        and "RELAYDESK_MASTER_KEY" in str(debug.exception)
    )


async def test_workspace_is_named_by_slug_or_name_everywhere(runtime, make_workspace, settings):
    ws = await make_workspace("Globex")
    async with runtime.db.read() as session:
        name = (await session.execute(sa.select(Workspace.name).where(Workspace.id == ws.id))).scalar_one()
    for ref in (ws.slug, name, name.upper()):
        made = await cli(settings, "token", "create", "--email", ws.owner.email, "--workspace", ref)
        assert made.exit_code == 0 and made.output.startswith("rd_"), made.output
        token = made.output.strip().splitlines()[0]  # then "scopes: *" on stderr
        assert (await _me(runtime, token)) == ws.id
    status = await cli(settings, "keys", "status", "--workspace", name)
    assert status.exit_code == 0 and ws.slug in status.output, status.output
    verified = await cli(settings, "audit", "verify", "--workspace", name)
    assert verified.exit_code == 0 and verified.output.startswith(f"{ws.slug}: "), verified.output
    twin = await make_workspace("Globex")  # same name, another slug: the name no longer says which
    ambiguous = one_line_error(await cli(settings, "keys", "status", "--workspace", "globex"))
    assert (
        "several workspaces are named 'globex'" in ambiguous
        and ws.slug in ambiguous
        and twin.slug in ambiguous
    )
    outsider = await cli(settings, "token", "create", "--email", twin.owner.email, "--workspace", ws.slug)
    assert (
        one_line_error(outsider)
        == f"Error: {twin.owner.email} is not an active member of workspace {ws.slug}"
    )


async def _me(runtime, token: str):  # type: ignore[no-untyped-def]
    from relaydesk.auth.tokens import token_hash
    from relaydesk.models.users import ApiToken

    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(ApiToken.workspace_id).where(ApiToken.token_hash == token_hash(token))
            )
        ).scalar_one()


async def test_createadmin_applies_the_password_policy_and_takes_no_password_in_argv(
    runtime, make_workspace, settings
):
    ws = await make_workspace()
    args = ["createadmin", "--email", "Boss@Example.com", "--name", "Boss", "--workspace"]
    assert "--password " not in (await cli(settings, "createadmin", "--help")).output
    no_such_option = await cli(settings, *args, "Initech", "--password", GOOD_PASSWORD)
    assert no_such_option.exit_code == 2  # the option is gone: no secret on a command line
    common = one_line_error(await cli(settings, *args, "Initech", "--password-stdin", stdin="password1\n"))
    assert "most commonly used passwords" in common
    short = one_line_error(await cli(settings, *args, "Initech", "--password-stdin", stdin="x7#q\n"))
    assert "at least 8 characters" in short
    contextual = one_line_error(
        await cli(settings, *args, "Initech", "--password-stdin", stdin="initech rules the world\n")
    )
    assert "Initech" in contextual
    no_terminal = one_line_error(await cli(settings, *args, "Initech"))
    assert "--password-stdin" in no_terminal
    created = await cli(settings, *args, "Initech", "--password-stdin", stdin=GOOD_PASSWORD + "\n")
    assert created.exit_code == 0 and "boss@example.com now owns workspace 'Initech'" in created.output
    # Joins an existing workspace named by its slug, as owner.
    joined = await cli(
        settings,
        "createadmin",
        "--email",
        "second@example.com",
        "--workspace",
        ws.slug,
        "--password-stdin",
        stdin=GOOD_PASSWORD + "\n",
    )
    assert joined.exit_code == 0, joined.output
    async with runtime.db.read() as session:
        roles = (
            await session.execute(
                sa.select(User.email, Workspace.slug, Membership.role)
                .join(Membership, Membership.user_id == User.id)
                .join(Workspace, Workspace.id == Membership.workspace_id)
                .where(User.email.in_(["boss@example.com", "second@example.com"]))
                .order_by(User.email)
            )
        ).all()
    assert [(e, r) for e, _, r in roles] == [("boss@example.com", "owner"), ("second@example.com", "owner")]
    assert roles[1][1] == ws.slug
    # Both are on the audit trail: the new workspace and its owner, the joined owner, all by the system.
    async with runtime.db.read() as session:
        users = dict((await session.execute(sa.select(User.email, User.id))).all())
        trail = (
            await session.execute(
                sa.select(
                    AuditEvent.workspace_id, AuditEvent.action, AuditEvent.actor_kind, AuditEvent.target_id
                ).where(AuditEvent.action.in_(["workspace.created", "member.added"]))
            )
        ).all()
        initech = (
            await session.execute(sa.select(Workspace.id).where(Workspace.name == "Initech"))
        ).scalar_one()
    audited = {(w, a, k, t) for w, a, k, t in trail}
    assert (initech, "workspace.created", "system", str(initech)) in audited
    assert (initech, "member.added", "system", str(users["boss@example.com"])) in audited
    assert (ws.id, "member.added", "system", str(users["second@example.com"])) in audited
    again = one_line_error(
        await cli(settings, *args, "Initech", "--password-stdin", stdin=GOOD_PASSWORD + "\n")
    )
    assert "already exists" in again


async def test_migrate_lists_what_it_applied(settings):
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'fresh.db'}"
    env = {"RELAYDESK_DATABASE_URL": url, "RELAYDESK_MASTER_KEY": generate_master_key()}
    first = await invoke(settings, ["migrate"], env)
    assert first.exit_code == 0, first.output
    applied = re.findall(r"^applied (\d{4}): ", first.output, flags=re.M)
    assert applied[0] == "0001" and applied == sorted(applied) and "0009" in applied
    assert "applied 0009: master key check value" in first.output
    second = await invoke(settings, ["migrate"], env)
    assert second.exit_code == 0 and second.output.strip().splitlines()[-1] == "already up to date"
    assert "applied" not in second.output


async def test_the_audit_page_command_works_as_printed(client, runtime, make_workspace, settings):
    ws = await make_workspace()
    assert (await login(client, ws.owner.email, ws.owner.password)).status_code in (302, 303)
    page = html.unescape((await client.get("/admin/audit")).text)
    printed = re.search(r"<code>(relaydesk audit verify[^<]*)</code>", page)
    assert printed, "the audit page no longer suggests a command"
    argv = shlex.split(printed.group(1))
    assert argv[0] == "relaydesk"
    result = await cli(settings, *argv[1:])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"{re.escape(ws.slug)}: \d+ rows, intact\n", result.output), result.output


def _on_a_terminal(argv: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run `python -m relaydesk <argv>` with a pseudo-terminal as its controlling terminal (getpass reads
    /dev/tty), answering each `Password` prompt in turn; returns the exit status and everything shown."""
    import os
    import pty
    import sys
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the CLI
        os.execve(sys.executable, [sys.executable, "-m", "relaydesk", *argv], env)
    shown, pending, deadline = b"", list(answers), time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if pending and chunk.rstrip().endswith(b":"):  # a prompt, not the newline after an answer
            os.write(fd, pending.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


async def test_createadmin_asks_twice_on_a_terminal(runtime, settings):
    import os

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": src,
        "RELAYDESK_DATABASE_URL": settings.database_url,
        "RELAYDESK_MASTER_KEY": settings.master_key,
    }
    argv = ["createadmin", "--email", "tty@example.com", "--workspace", "Terminal Co"]
    code, shown = await asyncio.to_thread(_on_a_terminal, argv, env, [GOOD_PASSWORD, GOOD_PASSWORD + "!"])
    assert code == 1 and "the two passwords differ" in shown and GOOD_PASSWORD not in shown, shown
    code, shown = await asyncio.to_thread(_on_a_terminal, argv, env, [GOOD_PASSWORD, GOOD_PASSWORD])
    assert code == 0, shown
    assert shown.count("Password") == 2 and GOOD_PASSWORD not in shown  # asked twice, never echoed
    assert "tty@example.com now owns workspace 'Terminal Co'" in shown
