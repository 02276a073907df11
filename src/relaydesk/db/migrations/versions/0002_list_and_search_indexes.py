"""conversation list sort=waiting index; search-token subject index led by workspace_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:45:00

- `ix_conversations_waiting` (partial, waiting rows only) lets `sort=waiting` walk an index in list
  order instead of sorting every open conversation (queries/conversations.py).
- `ix_search_tokens_subject` becomes (workspace_id, subject_id): `unindex_subjects` filters on both, and
  with the workspace first SQLite picks this index over the primary key's workspace prefix even without
  ANALYZE statistics (before, deleting one contact's tokens could scan the workspace's whole index).
  On a big PostgreSQL database this rebuild holds a write lock on search_tokens while it runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WAITING = sa.text("waiting_since IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_waiting",
            ["workspace_id", "status", "waiting_since", "id"],
            unique=False,
            sqlite_where=_WAITING,
            postgresql_where=_WAITING,
        )
    with op.batch_alter_table("search_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_search_tokens_subject")
        batch_op.create_index("ix_search_tokens_subject", ["workspace_id", "subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("search_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_search_tokens_subject")
        batch_op.create_index("ix_search_tokens_subject", ["subject_id"], unique=False)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_waiting")
