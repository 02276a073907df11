"""The database-backed `KeyStore`: wrapped keys in `workspace_keys` / `contact_keys` (with tombstones).

The store works on the *caller's* transaction, so a contact created in a transaction gets its key in that
same transaction (one writer connection on SQLite; no orphan keys when it rolls back). Its methods are
`async` to satisfy the `KeyStore` protocol but only make SQLAlchemy's greenlet-adapted synchronous calls
on the bound session's connection: `vault.drive` runs them without an event-loop round trip, which lets
the storage layer fetch keys from inside ORM events (see `privacy/vault.py`).
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from relaydesk.db.base import utcnow
from relaydesk.db.statements import insert_ignoring_conflicts
from relaydesk.models.keys import ContactKey, WorkspaceKey
from relaydesk.privacy.crypto import KeyDestroyed, UnknownKey
from relaydesk.privacy.keys import WrappedKey, contact_key_id

# The sync Session of the transaction the ring is currently working for (set by `vault.drive`).
bound_session: ContextVar[Session | None] = ContextVar("relaydesk_key_session", default=None)

# session.info key listing keys this transaction inserted: forgotten from the ring's cache on rollback.
NEW_KEYS = "relaydesk.new_keys"

_wk = WorkspaceKey.__table__
_ck = ContactKey.__table__


def _session() -> Session:
    session = bound_session.get()
    if session is None:
        raise RuntimeError("key store used outside vault.drive(): no transaction bound")
    return session


def _insert(table: sa.Table) -> sa.Insert:
    return insert_ignoring_conflicts(table, _session().get_bind().dialect.name)


def _remember(kind: str, workspace_id: uuid.UUID, owner: uuid.UUID | str) -> None:
    _session().info.setdefault(NEW_KEYS, []).append((kind, workspace_id, owner))


class DbKeyStore:
    """`KeyStore` over the bound transaction. Inserts are insert-if-absent and re-read the winner."""

    async def load_workspace_keys(self, workspace_id: uuid.UUID) -> list[WrappedKey]:
        rows = (
            _session()
            .connection()
            .execute(sa.select(_wk.c.key_id, _wk.c.wrapped).where(_wk.c.workspace_id == workspace_id))
        )
        return [WrappedKey(r.key_id, r.wrapped) for r in rows]

    async def add_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> WrappedKey:
        conn = _session().connection()
        stmt = _insert(_wk).values(
            workspace_id=workspace_id, key_id=key.key_id, wrapped=key.wrapped, created_at=utcnow()
        )
        if conn.execute(stmt).rowcount == 1:
            _remember("workspace", workspace_id, key.key_id)
        row = conn.execute(
            sa.select(_wk.c.wrapped).where(_wk.c.workspace_id == workspace_id, _wk.c.key_id == key.key_id)
        ).one()
        return WrappedKey(key.key_id, row.wrapped)

    async def replace_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> None:
        result = (
            _session()
            .connection()
            .execute(
                sa.update(_wk)
                .where(_wk.c.workspace_id == workspace_id, _wk.c.key_id == key.key_id)
                .values(wrapped=key.wrapped)
            )
        )
        if result.rowcount != 1:
            raise UnknownKey(f"workspace key {key.key_id!r} does not exist")

    async def load_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> WrappedKey | None:
        row = (
            _session()
            .connection()
            .execute(
                sa.select(_ck.c.key_id, _ck.c.wrapped, _ck.c.destroyed_at).where(
                    _ck.c.workspace_id == workspace_id, _ck.c.contact_id == contact_id
                )
            )
            .first()
        )
        return None if row is None else _live(row, contact_id)

    async def add_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> WrappedKey:
        conn = _session().connection()
        stmt = _insert(_ck).values(
            workspace_id=workspace_id,
            contact_id=contact_id,
            key_id=key.key_id,
            wrapped=key.wrapped,
            created_at=utcnow(),
        )
        if conn.execute(stmt).rowcount == 1:
            _remember("contact", workspace_id, contact_id)
        stored = await self.load_contact_key(workspace_id, contact_id)
        assert stored is not None  # the insert or a concurrent winner put it there
        return stored

    async def replace_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> None:
        result = (
            _session()
            .connection()
            .execute(
                sa.update(_ck)
                .where(
                    _ck.c.workspace_id == workspace_id,
                    _ck.c.contact_id == contact_id,
                    _ck.c.destroyed_at.is_(None),
                )
                .values(wrapped=key.wrapped)
            )
        )
        if result.rowcount != 1:
            raise UnknownKey(f"contact key of {contact_id} does not exist")

    async def list_contact_keys(self, workspace_id: uuid.UUID) -> list[tuple[uuid.UUID, WrappedKey]]:
        return [(cid, key) for cid, key in self.contact_keys_after(workspace_id, None, limit=None)]

    def contact_keys_after(
        self, workspace_id: uuid.UUID, after: uuid.UUID | None, *, limit: int | None
    ) -> list[tuple[uuid.UUID, WrappedKey]]:
        """Live contact keys in contact-id order after `after`: the rotation job's resumable batches."""
        stmt = (
            sa.select(_ck.c.contact_id, _ck.c.key_id, _ck.c.wrapped)
            .where(_ck.c.workspace_id == workspace_id, _ck.c.destroyed_at.is_(None))
            .order_by(_ck.c.contact_id)
        )
        if after is not None:
            stmt = stmt.where(_ck.c.contact_id > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = _session().connection().execute(stmt)
        return [(r.contact_id, WrappedKey(r.key_id, r.wrapped)) for r in rows]

    def contact_keys_for(
        self, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, WrappedKey | None]:
        """Batch load for reads: the wrapped key, or None for a destroyed one (absent ids are left out)."""
        rows = (
            _session()
            .connection()
            .execute(
                sa.select(_ck.c.contact_id, _ck.c.key_id, _ck.c.wrapped, _ck.c.destroyed_at).where(
                    _ck.c.workspace_id == workspace_id, _ck.c.contact_id.in_(contact_ids)
                )
            )
        )
        return {
            r.contact_id: None
            if r.destroyed_at is not None or r.wrapped is None
            else WrappedKey(r.key_id, r.wrapped)
            for r in rows
        }

    async def load_contact_keys(
        self, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, WrappedKey | None]:
        return self.contact_keys_for(workspace_id, contact_ids)

    async def add_contact_keys(
        self, workspace_id: uuid.UUID, keys: dict[uuid.UUID, WrappedKey]
    ) -> dict[uuid.UUID, WrappedKey]:
        if not keys:
            return {}
        now = utcnow()
        conn = _session().connection()
        rows = [
            {
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "key_id": key.key_id,
                "wrapped": key.wrapped,
                "created_at": now,
            }
            for contact_id, key in keys.items()
        ]
        inserted = set(conn.execute(_insert(_ck).returning(_ck.c.contact_id), rows).scalars())
        for contact_id in inserted:
            _remember("contact", workspace_id, contact_id)
        stored: dict[uuid.UUID, WrappedKey] = {cid: keys[cid] for cid in inserted}
        lost = [cid for cid in keys if cid not in inserted]
        if lost:  # a concurrent writer (or a tombstone) got there first: its row is the truth
            for contact_id, wrapped in self.contact_keys_for(workspace_id, lost).items():
                if wrapped is None:
                    raise KeyDestroyed(f"contact key of {contact_id} was destroyed")
                stored[contact_id] = wrapped
        return stored

    async def destroy_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        conn = _session().connection()
        now = utcnow()
        conn.execute(
            _insert(_ck).values(
                workspace_id=workspace_id,
                contact_id=contact_id,
                key_id=contact_key_id(contact_id),
                wrapped=None,
                created_at=now,
                destroyed_at=now,
            )
        )
        conn.execute(
            sa.update(_ck)
            .where(_ck.c.workspace_id == workspace_id, _ck.c.contact_id == contact_id)
            .values(wrapped=None)
        )
        conn.execute(
            sa.update(_ck)
            .where(
                _ck.c.workspace_id == workspace_id,
                _ck.c.contact_id == contact_id,
                _ck.c.destroyed_at.is_(None),
            )
            .values(destroyed_at=now)
        )


def _live(row: sa.Row, contact_id: uuid.UUID) -> WrappedKey:
    if row.destroyed_at is not None or row.wrapped is None:
        raise KeyDestroyed(f"contact key of {contact_id} was destroyed")
    return WrappedKey(row.key_id, row.wrapped)
