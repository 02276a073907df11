"""receiver leases on inboxes; the inbound event each customer message came from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

`inboxes.receiver_owner` / `receiver_until`: which worker runs the inbox's background receiver (IMAP) and
until when its lease holds (jobs/handlers/receivers.py), so across several workers each inbox has one.

`messages.inbound_event_id`: the raw inbound event a customer's message was parsed from. Erasure finds a
contact's raw events through their messages with it, knowing nothing of a channel's dedupe-key format.
Existing rows are filled in for the only channel that stored events so far, the API channel, whose
message events are keyed `message:<provider message id>` on the same inbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receiver_owner", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("receiver_until", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbound_event_id", sa.Uuid(), nullable=True))
    op.execute(
        """
        UPDATE messages SET inbound_event_id = (
            SELECT e.id FROM inbound_events e
            WHERE e.inbox_id = messages.inbox_id
              AND e.workspace_id = messages.workspace_id
              AND e.dedupe_key = 'message:' || messages.provider_message_id
        )
        WHERE message_type = 'incoming' AND provider_message_id IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("inbound_event_id")
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.drop_column("receiver_until")
        batch_op.drop_column("receiver_owner")
