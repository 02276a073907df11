"""inbox receiver status: whether the background receiver is connected, and its last completed sync

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

`inboxes.receiver_status` (`connecting`, `connected`, `disconnected`, `stopped`) and
`inboxes.receiver_synced_at`: what the admin's inbox page and the API's inbox health show of an inbox's
background receiver (IMAP), written by its `ReceiverContext.report_status` while the worker holds the
inbox's lease. Its errors go to the inbox's `last_error` like every channel's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receiver_status", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("receiver_synced_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.drop_column("receiver_synced_at")
        batch_op.drop_column("receiver_status")
