"""The process-wide key ring and the glue that lets it work inside database transactions.

`configure` is called once at start-up with the configured master keys (newest first). The ring caches
unwrapped keys for `cache_ttl` seconds; its store (`keystore.DbKeyStore`) works on whichever transaction
`drive` binds, so keys are created, read and destroyed atomically with the rows they protect.

Why `drive`: the store only makes SQLAlchemy's greenlet-adapted synchronous calls, so a ring coroutine
never really suspends and can be run to completion synchronously. That is what allows decrypting keys to
be fetched from inside ORM events (a page of messages is loaded with one extra key query, see
`storage/`), and from async code through `run` (which uses `AsyncSession.run_sync`).

Keys inserted by a transaction that later rolls back are evicted from the cache (`after_soft_rollback`),
so no later write can seal data under a key that was never committed.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import crypto
from relaydesk.privacy.keys import KeyRing
from relaydesk.privacy.keystore import NEW_KEYS, DbKeyStore, bound_session

T = TypeVar("T")

SECRET_PURPOSE = "workspace-secrets"


class _State:
    ring: KeyRing | None = None
    store: DbKeyStore = DbKeyStore()


_state = _State()


def configure(master_keys: Sequence[crypto.MasterKey], *, cache_ttl: float = 300.0) -> KeyRing:
    """Install the process-wide ring. `master_keys[0]` wraps new workspace keys and seals new secrets;
    the others still open what they wrapped, until `relaydesk keys rotate --master` has re-wrapped it."""
    _state.ring = KeyRing(_state.store, list(master_keys), cache_ttl=cache_ttl)
    return _state.ring


def ring() -> KeyRing:
    if _state.ring is None:
        raise RuntimeError("personal-data storage used before privacy.vault.configure()")
    return _state.ring


def store() -> DbKeyStore:
    return _state.store


def drive(session: Session, coro: Coroutine[Any, Any, T]) -> T:
    """Run a ring/store coroutine to completion on `session`'s transaction, synchronously.

    Must be called where SQLAlchemy may do I/O synchronously: inside `run_sync`, a flush, or an ORM event
    of an AsyncSession (all run in SQLAlchemy's greenlet)."""
    token = bound_session.set(session)
    try:
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        coro.close()
        raise RuntimeError("key store coroutine suspended; it must only make synchronous SQLAlchemy calls")
    finally:
        bound_session.reset(token)


async def run(session: AsyncSession, make: Callable[[KeyRing], Coroutine[Any, Any, T]]) -> T:
    """Run a ring operation inside an async session's transaction (creating keys there if needed)."""
    if any(isinstance(obj, Workspace) for obj in session.new):
        await session.flush()  # the key rows reference the workspace row
    return await session.run_sync(lambda sync_session: drive(sync_session, make(ring())))


@event.listens_for(Session, "after_soft_rollback")
def _forget_uncommitted_keys(session: Session, _previous: Any) -> None:
    created = session.info.pop(NEW_KEYS, None)
    if not created or _state.ring is None:
        return
    for kind, workspace_id, owner in created:
        if kind == "workspace":
            _state.ring.forget_workspace(workspace_id)
        else:
            _state.ring.forget_contact(workspace_id, owner)


@event.listens_for(Session, "after_commit")
def _keys_committed(session: Session) -> None:
    session.info.pop(NEW_KEYS, None)


# --- secrets sealed under a master subkey -------------------------------------------------------------
# Channel credentials, webhook signing secrets, TOTP seeds and raw inbound bodies are sealed synchronously
# (callers build rows and Core statements with them), so their key is derived from the master key and the
# workspace id instead of being loaded from the database. The key id names the master key, so a master
# rotation re-seals them (`relaydesk keys rotate --master`).


def _secret_key_id(master_id: str) -> str:
    return "s" + master_id


@functools.lru_cache(maxsize=4096)
def _secret_key(master: bytes, scope: uuid.UUID) -> bytes:
    """Memoised: every inbound request seals its body with it, and HKDF costs more than the sealing.
    The cache holds what the process already holds (the master key), per workspace."""
    return crypto.derive_subkey(master, SECRET_PURPOSE, scope.bytes)


def seal_secret_bytes(scope: uuid.UUID, plaintext: bytes, aad: bytes) -> bytes:
    master = ring().current_master
    return crypto.seal(_secret_key(master.key, scope), _secret_key_id(master.key_id), plaintext, aad)


def open_secret_bytes(scope: uuid.UUID, blob: bytes, aad: bytes) -> bytes:
    def resolve(key_id: str) -> bytes:
        if not key_id.startswith("s"):
            raise crypto.UnknownKey(f"{key_id!r} is not a secret key id")
        return _secret_key(ring().master_key(key_id[1:]), scope)

    return crypto.open_sealed(resolve, blob, aad)


def secret_needs_reseal(blob: bytes) -> bool:
    return crypto.key_id_of(blob) != _secret_key_id(ring().current_master.key_id)
