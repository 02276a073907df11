"""inbox failed events: how many inbound events of the inbox were dead-lettered

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

`inboxes.failed_events` counts the inbound events marked `failed` (processing failed for good, or the body
no longer parses), kept by `relaydesk.actions.inbound_events.fail_events` in the same transaction as the
events, so the admin's Inboxes page and the API show it without counting the events table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_events", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.drop_column("failed_events")
