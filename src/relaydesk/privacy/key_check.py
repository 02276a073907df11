"""The master key check value: a wrong or missing RELAYDESK_MASTER_KEY is refused before anything runs.

Without it a process started with another key (a fresh `relaydesk keys generate`, a typo in a secret
store) would start, create workspace keys and seal data under its own key, and the processes holding the
right key would then fail on that data. So the first process that opens a database seals a known constant
under a subkey of its current master key into `master_key_check` (one row); every later start opens it
(`verify`) and refuses, with one line naming both key fingerprints, when none of the configured keys
does. A master-key rotation re-seals it in the transaction that re-wraps everything (`reseal`), so once
the old key is removed from the setting the check follows the data.

Databases keyed before the check existed get their row on the next start, after the same comparison
against the master key ids named in their wrapped workspace keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.statements import insert_ignoring_conflicts
from relaydesk.models.keys import MasterKeyCheck, WorkspaceKey
from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import MasterKey

CHECK_ROW = 1
_PURPOSE = "master-key-check"
_CONSTANT = b"relaydesk master key check v1"
_AAD = b"relaydesk/v1/master_key_check"


class MasterKeyMismatch(Exception):
    """The configured master key(s) cannot open this database's data; the message says which key it needs."""


def _seal(master: MasterKey) -> bytes:
    return crypto.seal(crypto.derive_subkey(master.key, _PURPOSE), master.key_id, _CONSTANT, _AAD)


def _mismatch(needed: str, masters: Sequence[MasterKey]) -> MasterKeyMismatch:
    configured = ", ".join(m.key_id for m in masters)
    return MasterKeyMismatch(
        f"RELAYDESK_MASTER_KEY does not match this database: its data is keyed to master key {needed}, "
        f"the configured key is {configured} (set the key the database was created with)"
    )


def _opens(blob: bytes, masters: Sequence[MasterKey]) -> bool:
    by_id = {m.key_id: m for m in masters}

    def resolve(key_id: str) -> bytes:
        if key_id not in by_id:
            raise crypto.UnknownKey(key_id)
        return crypto.derive_subkey(by_id[key_id].key, _PURPOSE)

    try:
        return crypto.open_sealed(resolve, blob, _AAD) == _CONSTANT
    except crypto.CryptoError:
        return False


async def verify(session: AsyncSession, masters: Sequence[MasterKey]) -> None:
    """Refuse (`MasterKeyMismatch`) unless one of `masters` opens the check value; on a database that has
    none yet, write it under `masters[0]` (after checking older wrapped keys name a configured key)."""
    blob = (await session.execute(sa.select(MasterKeyCheck.check_value))).scalar_one_or_none()
    if blob is None:
        configured = {m.key_id for m in masters}
        wrapped_under = {
            crypto.key_id_of(w) for w in (await session.execute(sa.select(WorkspaceKey.wrapped))).scalars()
        }
        unknown = sorted(wrapped_under - configured)
        if unknown:
            raise _mismatch(unknown[0], masters)
        now = utcnow()
        await session.execute(
            insert_ignoring_conflicts(MasterKeyCheck.__table__, session.get_bind().dialect.name).values(
                id=CHECK_ROW, check_value=_seal(masters[0]), created_at=now, updated_at=now
            )
        )
        # A concurrent first start with another key may have won the insert: check what is stored.
        blob = (await session.execute(sa.select(MasterKeyCheck.check_value))).scalar_one()
    if not _opens(blob, masters):
        raise _mismatch(crypto.key_id_of(blob), masters)


async def reseal(session: AsyncSession, master: MasterKey) -> None:
    """Seal the check value under `master` (the new current key), in the re-wrapping transaction."""
    now = utcnow()
    updated = await session.execute(
        sa.update(MasterKeyCheck)
        .where(MasterKeyCheck.id == CHECK_ROW)
        .values(check_value=_seal(master), updated_at=now)
    )
    if updated.rowcount == 0:
        session.add(MasterKeyCheck(id=CHECK_ROW, check_value=_seal(master), created_at=now, updated_at=now))
        await session.flush()
