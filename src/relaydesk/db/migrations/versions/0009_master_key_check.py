"""master key check value: refuse a wrong RELAYDESK_MASTER_KEY at start

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

`master_key_check` holds one row: a known constant sealed (AES-256-GCM) under a subkey of the master key
the database was first keyed with. Every process opens it before it serves or writes anything
(`relaydesk.privacy.key_check`); `relaydesk keys rotate --master` re-seals it under the new key. The row
is written on the first start after this revision, so databases keyed before it are checked from then on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "master_key_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_key_check")),
    )


def downgrade() -> None:
    op.drop_table("master_key_check")
