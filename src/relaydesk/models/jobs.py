"""The transactional outbox: work to do after a commit, claimed by dispatchers and workers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, utcnow

JOB_STATES = ("pending", "running", "done", "dead")


class Job(IdMixin, CreatedMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_ready", "state", "run_at"),
        sa.UniqueConstraint("idempotency_key"),
    )

    # Nullable: system jobs (retention sweeps) belong to no workspace. API reads filter on it.
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # None: the `job_max_attempts` setting of the process that runs it; set only to override per job.
    max_attempts: Mapped[int | None]
    run_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(sa.String(120))
    locked_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))
    finished_at: Mapped[dt.datetime | None]
