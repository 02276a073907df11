"""inbox receivers: the position and health of each inbox's background receiver (IMAP)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

`inbox_receivers` holds, per inbox whose channel fetches mail (IMAP), the receiver's state, last sync and
last error for the admin and the API, and the lease that lets exactly one worker process run it
(inbound/receivers.py). The cursor itself is `inboxes.receiver_state`. Tenant-scoped like every table: the
row-level security policy comes from `apply_extra_ddl` (idempotent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base
from relaydesk.db.schema import apply_extra_ddl

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_receivers",
        sa.Column("inbox_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("last_sync_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_inbox_receivers_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_inbox_receivers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_receivers")),
    )
    with op.batch_alter_table("inbox_receivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_receivers_inbox_id"), ["inbox_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_inbox_receivers_workspace_id"), ["workspace_id"], unique=False)
    apply_extra_ddl(op.get_bind())


def downgrade() -> None:
    op.drop_table("inbox_receivers")
