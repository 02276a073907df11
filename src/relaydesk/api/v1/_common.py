"""Helpers shared by the API resource modules (the leading underscore keeps this module out of ROUTES).

Every list in the API pages the same way: keyset pagination on a stable sort key plus the row id, with an
opaque cursor, so a page never skips or repeats rows when others are inserted meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput
from relaydesk.queries.pagination import check_limit, decode_cursor, encode_cursor

# Query parameters every list accepts; declared once so the OpenAPI schema documents them alike.
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size (1-100)")]
Cursor = Annotated[str | None, Parameter(max_length=500, description="`next_cursor` of the previous page")]

# Request-body string types with limits, so oversize values are a 400 from the decoder, not a DB error.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
ShortText = Annotated[str, msgspec.Meta(max_length=2000)]


def changes(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent (unset fields are left alone, explicit nulls are kept)."""
    fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if not fields:
        raise InvalidInput("nothing to change")
    return fields


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput("invalid cursor") from None


async def keyset_page(
    session: AsyncSession,
    stmt: sa.Select[Any],
    *,
    id_column: Any,
    cursor: str | None,
    limit: int,
    sort_column: Any = None,
    descending: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """Run `stmt` ordered by (`sort_column`, `id_column`) from after `cursor`; returns (rows, next cursor).

    `sort_column` must hold strings (names, short codes); without it, rows are ordered by their UUIDv7 id,
    which is creation order.
    """
    check_limit(limit)
    parts = 2 if sort_column is not None else 1
    after = decode_cursor(cursor, parts)
    if after is not None:
        last_id = _uuid(after[-1])
        if sort_column is None:
            stmt = stmt.where(id_column < last_id if descending else id_column > last_id)
        else:
            if not isinstance(after[0], str):
                raise InvalidInput("invalid cursor")
            beyond = sort_column < after[0] if descending else sort_column > after[0]
            tie = id_column < last_id if descending else id_column > last_id
            stmt = stmt.where(sa.or_(beyond, sa.and_(sort_column == after[0], tie)))
    order = [c.desc() if descending else c.asc() for c in (sort_column, id_column) if c is not None]
    rows = list((await session.execute(stmt.order_by(*order).limit(limit + 1))).all())
    if len(rows) <= limit:
        return [r[0] if len(r) == 1 else r for r in rows], None
    rows = rows[:limit]
    last = rows[-1][0]
    values: list[Any] = [str(last.id)]
    if sort_column is not None:
        values.insert(0, getattr(last, sort_column.key))
    return [r[0] if len(r) == 1 else r for r in rows], encode_cursor(values)
