"""contact restriction of processing

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

`contacts.restricted_at`: set while the contact's processing is restricted (GDPR art. 18): the data is
kept, but the AI, automations (away messages) and outgoing webhooks skip the contact
(actions/subject_rights.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restricted_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("restricted_at")
