"""Declarative base and column types shared by every model.

Every tenant-owned table inherits `WorkspaceScoped`, which adds an indexed, non-null `workspace_id`;
tests/test_schema_guard.py fails when a table that references tenant data lacks it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from relaydesk.db.ids import uuid7


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UtcDateTime(),
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        uuid.UUID: sa.Uuid(),
    }


class IdMixin:
    """A UUIDv7 primary key assigned when the object is constructed, before any flush."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)


@event.listens_for(IdMixin, "init", propagate=True)
def _assign_id(target: IdMixin, _args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if kwargs.get("id") is None:
        kwargs["id"] = uuid7()


class CreatedMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WorkspaceScoped:
    """Marks a tenant-owned table; queries must filter on workspace_id (see db.scoping)."""

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
