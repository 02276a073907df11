"""data-subject requests and contact export archives

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

`subject_requests` tracks each request a person makes about their data (kind, contact, who recorded it,
received, 30-day deadline, state); it outlives the contact (`contact_id` SET NULL). `contact_exports`
holds the archive answering an access request, sealed under the contact key (so erasure shreds it too),
downloadable once by its requester until it expires. Row-level security is applied to both by env.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relaydesk.db.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_kind", sa.String(length=20), nullable=False),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("completed_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_subject_requests_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_subject_requests_requested_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_subject_requests_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
    )
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_requests_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subject_requests_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(
            "ix_subject_requests_ws_state_deadline", ["workspace_id", "state", "deadline_at"], unique=False
        )

    op.create_table(
        "contact_exports",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("requester_user_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("ready_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_exports_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_requests.id"],
            name=op.f("fk_contact_exports_request_id_subject_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_user_id"],
            ["users.id"],
            name=op.f("fk_contact_exports_requester_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_contact_exports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_exports")),
    )
    with op.batch_alter_table("contact_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_exports_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_exports_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_exports_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_exports_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_contact_exports_request_id"))
        batch_op.drop_index(batch_op.f("ix_contact_exports_contact_id"))

    op.drop_table("contact_exports")
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_requests_ws_state_deadline")
        batch_op.drop_index(batch_op.f("ix_subject_requests_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_subject_requests_contact_id"))

    op.drop_table("subject_requests")
