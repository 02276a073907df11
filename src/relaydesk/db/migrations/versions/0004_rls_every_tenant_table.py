"""row-level security on every tenant table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Until now only the tables holding personal data or keys had a policy; this applies the current
definitions from db/schema.py (`apply_extra_ddl`), which derive the tables from the metadata: every table
with a `workspace_id` column gets the `workspace_isolation` policy for the request role, memberships and
user sessions a slightly wider one (db/tenancy.py, POLICIES). Idempotent.
"""

from __future__ import annotations

from alembic import op

from relaydesk.db.schema import apply_extra_ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_extra_ddl(op.get_bind())


def downgrade() -> None:
    # The wider coverage is a safety net, not a schema change the application depends on: going back
    # keeps the policies (dropping them would silently lower the isolation of the older version).
    pass
