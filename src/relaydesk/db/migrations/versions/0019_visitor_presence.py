"""chat visitors' presence

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

`contact_identities.present_until`: while it lies ahead, the chat visitor known by this identity has the
widget open (its socket refreshes it); replies to a visitor who has left go by e-mail when the chat inbox
names an e-mail inbox (actions/offline_fallback.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_identities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("present_until", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_identities", schema=None) as batch_op:
        batch_op.drop_column("present_until")
