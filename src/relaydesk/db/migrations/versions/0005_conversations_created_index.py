"""conversation list sort=created ("Newest") index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:05:00

`ix_conversations_created` lets sort=created walk an index in list order per status, as the other sorts
do, instead of sorting every conversation of the view (queries/conversations.py).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_created", ["workspace_id", "status", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_created")
