"""audit checkpoints (retention purge of the audit chain)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

`audit_checkpoints` records where each workspace's chain starts after a retention purge; on PostgreSQL
the append-only trigger now lets exactly one path delete audit rows (privacy/audit.py `purge_before`,
docs/encryption.md §6) and refuses UPDATE/DELETE of checkpoints. `apply_extra_ddl` is idempotent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base
from relaydesk.db.schema import apply_extra_ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("last_occurred_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("purged", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("workspace_id", "seq", name=op.f("uq_audit_checkpoints_workspace_id_seq")),
    )
    apply_extra_ddl(op.get_bind())


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
