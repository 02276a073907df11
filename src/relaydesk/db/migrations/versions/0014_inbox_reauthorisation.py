"""inbox re-authorisation mark and receiver state

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

`inboxes.reauth_reason` / `reauth_since`: set when a provider refuses the inbox's credentials
(`ReauthorisationNeeded` from a channel's send or receiver); nothing more is sent through the inbox until an
admin replaces its credentials, which clears them. `inboxes.receiver_state`: the cursor a channel's
background receiver keeps between runs (IMAP UIDVALIDITY and last UID), written only through its
`ReceiverContext`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import relaydesk.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reauth_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("reauth_since", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "receiver_state",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.drop_column("receiver_state")
        batch_op.drop_column("reauth_since")
        batch_op.drop_column("reauth_reason")
