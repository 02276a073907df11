"""api token scopes: what each token may do, per resource family

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

`api_tokens.scopes` is a JSON list (relaydesk/auth/scopes.py): `["*"]` full access, `["*:read"]`
read-only, or `<family>:read|write` entries. Every token that exists before this revision had full
access, so the server default `["*"]` migrates them to exactly that.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scopes",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default='["*"]',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
