"""intent model evaluation: the cross-validated estimate stored beside each trained version

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

`ai_intent_models.evaluation` holds what `relaydesk.ai.evaluation.cross_validate` measured on the
version's training phrases (accuracy, per-intent recall and precision, the most confused pairs), shown
to admins on the Intents page. NULL for versions trained before this revision and when the estimate
could not be made; the next retraining fills it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_intent_models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "evaluation",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("ai_intent_models", schema=None) as batch_op:
        batch_op.drop_column("evaluation")
