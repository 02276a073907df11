"""attachment metadata sealed: sealed file name and keyed digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

`attachments.filename_sealed` holds the file name sealed under the contact key (like the bytes) and
`attachments.digest` an HMAC-SHA256 of the content's SHA-256 under a key derived from the contact key.
The clear `filename` and `sha256` columns become nullable: new rows leave them NULL, and the periodic
`attachments.seal_metadata` job (jobs/handlers/attachments.py) seals existing rows batch by batch and
clears them, walking the partial index `ix_attachments_clear_metadata` (docs/encryption.md §4). A later
revision drops both columns once no deployment has clear rows left.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("filename_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("filename", existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)
    # Only rows still to convert are in it, so an idle conversion job costs one empty index probe.
    clear = sa.text("filename IS NOT NULL")
    op.create_index(
        "ix_attachments_clear_metadata",
        "attachments",
        ["workspace_id", "id"],
        unique=False,
        sqlite_where=clear,
        postgresql_where=clear,
    )


def downgrade() -> None:
    # Rows written sealed have no clear name to go back to; downgrading would lose them, so refuse.
    raise NotImplementedError("0007 cannot be downgraded: sealed attachment names have no clear copy")
