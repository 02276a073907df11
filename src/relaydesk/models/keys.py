"""Wrapped encryption keys: per-workspace key generations and per-contact data keys (docs/encryption.md).

Only wrapped (sealed) keys are stored. A destroyed contact key keeps its row as a tombstone
(`wrapped` NULL, `destroyed_at` set, no personal data) so a wrapped key that reappears — restored from a
backup or copied back by hand — is refused rather than silently used again.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, WorkspaceScoped, utcnow


class WorkspaceKey(WorkspaceScoped, Base):
    __tablename__ = "workspace_keys"
    __table_args__ = (sa.PrimaryKeyConstraint("workspace_id", "key_id"),)

    # `w1`, `w2`, ...: the highest generation is current; w1 also roots the blind-index key.
    key_id: Mapped[str] = mapped_column(sa.String(40))
    wrapped: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContactKey(WorkspaceScoped, Base):
    __tablename__ = "contact_keys"
    # No foreign key to contacts on purpose: the tombstone must outlive the contact row it shredded.
    __table_args__ = (sa.PrimaryKeyConstraint("workspace_id", "contact_id"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    key_id: Mapped[str] = mapped_column(sa.String(40))
    wrapped: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[dt.datetime | None]


class KeyRotation(WorkspaceScoped, Base):
    """Progress of a background re-wrap after a workspace-key rotation, resumable from `cursor`."""

    __tablename__ = "key_rotations"
    __table_args__ = (sa.PrimaryKeyConstraint("workspace_id", "target_key_id"),)

    target_key_id: Mapped[str] = mapped_column(sa.String(40))
    # Last contact id re-wrapped (contact keys are walked in id order), NULL before the first batch.
    cursor: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    total: Mapped[int] = mapped_column(sa.Integer, default=0)
    done: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Keys re-wrapped in the current pass; a pass that changes nothing ends the job (a second pass catches
    # keys created by processes that had not yet seen the new generation).
    pass_changed: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class MasterKeyCheck(Base):
    """One row: a known constant sealed under a subkey of the master key the database is keyed with.

    Every process opens it at start (`privacy/key_check.py`), so a wrong or missing RELAYDESK_MASTER_KEY is
    refused before anything is written under it; `keys rotate --master` re-seals it under the new key.
    """

    __tablename__ = "master_key_check"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    # Sealed blob (crypto.seal); its cleartext prefix names the master key (`m<fingerprint>`).
    check_value: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
