"""workspace intents and their trained model versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00

- `ai_intents`: a workspace's own intents, and its changes to the built-in ones (extra examples,
  disabled, handoff, label/priority mapping).
- `ai_intent_models`: one row per trained version of the workspace's intent classifier (state, counts,
  error, the pickle-free npz blob). docs/ai.md "Intents and retraining".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import relaydesk.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_intent_models",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("intent_count", sa.Integer(), nullable=False),
        sa.Column("example_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("started_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("trained_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("model_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("model_size", sa.Integer(), nullable=False),
        sa.Column("updated_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ai_intent_models_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_intent_models")),
        sa.UniqueConstraint("workspace_id", "version", name=op.f("uq_ai_intent_models_workspace_id_version")),
    )
    with op.batch_alter_table("ai_intent_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_intent_models_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "ai_intents",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column(
            "examples",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("label_id", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("updated_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", relaydesk.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name=op.f("fk_ai_intents_label_id_labels"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ai_intents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_intents")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_ai_intents_workspace_id_name")),
    )
    with op.batch_alter_table("ai_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_intents_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ai_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_intents_workspace_id"))
    op.drop_table("ai_intents")
    with op.batch_alter_table("ai_intent_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_intent_models_workspace_id"))
    op.drop_table("ai_intent_models")
