"""messages keep the customer's send time and are ordered in the thread by `ordered_at`

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

`messages.ordered_at` is where a message sits in its thread: the provider's send time when given and
plausible, else `created_at` (actions/incoming.py: thread_time). Until now an incoming message's
provider time was only copied into `content_attributes.sent_at`; it moves to the `sent_at` column (which
incoming messages left empty) and counts for the order. The thread index follows the new order.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import relaydesk.db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The rule of actions/incoming.py at the time of this revision, frozen here.
MAX_SEND_DELAY = dt.timedelta(days=7)
BATCH = 1000


def _when(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None


def upgrade() -> None:
    utc = relaydesk.db.base.UtcDateTime(timezone=True)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordered_at", utc, nullable=True))
    conn = op.get_bind()
    messages = sa.table(
        "messages",
        sa.column("id", sa.Uuid()),
        sa.column("message_type", sa.String()),
        sa.column("created_at", utc),
        sa.column("sent_at", utc),
        sa.column("ordered_at", utc),
        sa.column("content_attributes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    conn.execute(sa.update(messages).values(ordered_at=messages.c.created_at))
    # Incoming messages whose provider time was kept in content_attributes: move it, in batches.
    has_time = messages.c.content_attributes["sent_at"].as_string().is_not(None)
    last = None
    while True:
        stmt = (
            sa.select(messages.c.id, messages.c.created_at, messages.c.content_attributes)
            .where(messages.c.message_type == "incoming", has_time)
            .order_by(messages.c.id)
            .limit(BATCH)
        )
        if last is not None:
            stmt = stmt.where(messages.c.id > last)
        rows = conn.execute(stmt).all()
        if not rows:
            break
        for mid, created_at, attributes in rows:
            sent_at = _when(attributes.get("sent_at"))
            ordered_at = created_at
            if sent_at is not None and sent_at >= created_at - MAX_SEND_DELAY:
                ordered_at = min(sent_at, created_at)
            conn.execute(
                sa.update(messages)
                .where(messages.c.id == mid)
                .values(
                    sent_at=sent_at,
                    ordered_at=ordered_at,
                    content_attributes={k: v for k, v in attributes.items() if k != "sent_at"},
                )
            )
        last = rows[-1][0]
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("ordered_at", existing_type=utc, nullable=False)
        batch_op.drop_index("ix_messages_conversation")
        batch_op.create_index(
            "ix_messages_conversation_order", ["conversation_id", "ordered_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conversation_order")
        batch_op.create_index("ix_messages_conversation", ["conversation_id", "created_at"], unique=False)
        batch_op.drop_column("ordered_at")
