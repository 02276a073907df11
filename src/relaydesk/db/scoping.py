"""Tenant-scoped lookups: the one way to load a row by id on behalf of a workspace.

A row of another workspace is indistinguishable from a missing row (404), so ids leak nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import NotFound

T = TypeVar("T")


async def get_scoped(
    session: AsyncSession,
    model: type[T],
    workspace_id: uuid.UUID,
    id_: uuid.UUID | str,
    *,
    for_update: bool = False,
) -> T:
    try:
        key = id_ if isinstance(id_, uuid.UUID) else uuid.UUID(str(id_))
    except ValueError:
        raise NotFound(f"{model.__name__.lower()} not found") from None
    stmt: Any = sa.select(model).where(model.id == key, model.workspace_id == workspace_id)  # type: ignore[attr-defined]
    if for_update and session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{model.__name__.lower()} not found")
    return row
