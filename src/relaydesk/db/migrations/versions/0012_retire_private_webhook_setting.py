"""retire the workspace setting allow_private_webhook_targets: the operator decides (decision 31)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Outbound requests to private addresses are now allowed per purpose by the server's operator
(`RELAYDESK_ALLOW_PRIVATE_TARGETS`), never by a workspace. The stored key is removed so no reader can
mistake it for a live switch. The downgrade cannot know who had it on and leaves it absent (off).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = "allow_private_webhook_targets"


def upgrade() -> None:
    workspaces = sa.table("workspaces", sa.column("id"), sa.column("settings", sa.JSON()))
    conn = op.get_bind()
    rows = conn.execute(sa.select(workspaces.c.id, workspaces.c.settings)).all()
    for ws_id, settings in rows:  # one row per workspace: few, and JSON editing differs per backend
        if isinstance(settings, dict) and KEY in settings:
            kept = {k: v for k, v in settings.items() if k != KEY}
            conn.execute(sa.update(workspaces).where(workspaces.c.id == ws_id).values(settings=kept))


def downgrade() -> None:
    pass
