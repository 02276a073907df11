"""Every CLI failure as one line and a non-zero exit: the one place that maps exceptions to messages.

Operators meet the CLI first, usually with a setting wrong; a traceback tells them less than one line
naming the setting. `Group.invoke` below catches what the commands raise and turns it into
`Error: <line>` (exit 1); `relaydesk --debug <command>` lets the original exception and its traceback
through. Messages never contain secrets: database URLs are shown with the password masked, master keys
only by fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import click
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import make_url

from relaydesk.config import ConfigError, Settings, load_settings
from relaydesk.errors import DomainError
from relaydesk.privacy.crypto import CryptoError
from relaydesk.privacy.key_check import MasterKeyMismatch

DEBUG_KEY = "relaydesk.debug"
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def check_database_url(url: str) -> None:
    """Refuse a database URL that cannot work before anything tries to connect with it."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError(
            "RELAYDESK_DATABASE_URL is not a database URL; expected sqlite+aiosqlite:///relaydesk.db "
            "or postgresql+asyncpg://user@host/dbname"
        ) from None
    if parsed.drivername not in DRIVERS:
        raise ConfigError(
            f"RELAYDESK_DATABASE_URL uses {parsed.drivername!r}; supported: {' or '.join(DRIVERS)}"
        )


def settings(**overrides: object) -> Settings:
    """Settings for a command (keyword overrides from its options), with the database URL checked."""
    loaded = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    check_database_url(loaded.database_url)
    return loaded


@contextlib.asynccontextmanager
async def opened(loaded: Settings) -> AsyncIterator[Any]:
    """A Runtime for one command, refused (`MasterKeyMismatch`) when the master key does not fit the
    database, and always stopped."""
    from relaydesk.runtime import build_runtime

    runtime = build_runtime(loaded)
    try:
        await runtime.check_master_key()
        yield runtime
    finally:
        await runtime.stop()


def _where() -> str:
    try:
        url = make_url(load_settings().database_url)
        return url.render_as_string(hide_password=True)
    except Exception:  # the message is about the connection; a bad setting is reported elsewhere
        return "the configured database"


def message(exc: BaseException) -> str | None:
    """The one line shown for `exc`, or None for an exception nobody expected (kept with its traceback)."""
    if isinstance(exc, ConfigError | MasterKeyMismatch | DomainError):
        return str(exc)
    if isinstance(exc, CryptoError):
        return f"encrypted data could not be opened: {exc} (is RELAYDESK_MASTER_KEY right?)"
    if isinstance(exc, sa_exc.DBAPIError):
        first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        return f"database error at {_where()}: {first}"
    if isinstance(exc, OSError | asyncio.TimeoutError):
        return f"cannot reach the database at {_where()}: {exc}"
    return None


class Group(click.Group):
    """The `relaydesk` group: subcommands' errors become one line unless `--debug` was given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            line = message(exc)
            if line is None:
                line = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
            raise click.ClickException(" ".join(line.split())) from None
