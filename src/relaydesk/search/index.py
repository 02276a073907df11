"""Write and query the blind token index for messages and contacts.

Every query is scoped to one workspace and the digests come from the workspace's `BlindIndex`
(privacy/blind_index.py, the one tokenizer), so equal words in two workspaces give unrelated digests.
Multi-word queries match documents holding every word; there is no time window.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.search import SearchToken
from relaydesk.privacy.blind_index import BlindIndex

MESSAGE = "m"
CONTACT = "c"


async def index_subject(
    session: AsyncSession,
    index: BlindIndex,
    workspace_id: uuid.UUID,
    kind: str,
    subject_id: uuid.UUID,
    texts: Iterable[str],
) -> None:
    digests: set[bytes] = set()
    for text in texts:
        if text:
            digests |= index.document_tokens(text)
    if not digests:
        return
    await session.execute(
        sa.insert(SearchToken),
        [{"workspace_id": workspace_id, "kind": kind, "token": d, "subject_id": subject_id} for d in digests],
    )


async def unindex_subjects(
    session: AsyncSession, workspace_id: uuid.UUID, subject_ids: Sequence[uuid.UUID]
) -> None:
    if subject_ids:
        await session.execute(
            sa.delete(SearchToken).where(
                SearchToken.workspace_id == workspace_id, SearchToken.subject_id.in_(list(subject_ids))
            )
        )


async def unindex_subject(session: AsyncSession, workspace_id: uuid.UUID, subject_id: uuid.UUID) -> None:
    await unindex_subjects(session, workspace_id, [subject_id])


async def search(
    session: AsyncSession,
    index: BlindIndex,
    workspace_id: uuid.UUID,
    kind: str,
    query: str,
    *,
    before: uuid.UUID | None = None,
    limit: int = 20,
) -> Sequence[uuid.UUID]:
    """Ids of subjects holding every word of `query`, newest first, optionally older than `before`."""
    digests = sorted(index.query_tokens(query))
    if not digests:
        return []
    conditions = [
        SearchToken.workspace_id == workspace_id,
        SearchToken.kind == kind,
        SearchToken.token.in_(digests),
    ]
    if before is not None:
        conditions.append(SearchToken.subject_id < before)
    stmt = sa.select(SearchToken.subject_id).where(*conditions)
    if len(digests) > 1:
        stmt = stmt.group_by(SearchToken.subject_id).having(
            sa.func.count(sa.distinct(SearchToken.token)) == len(digests)
        )
    else:
        stmt = stmt.distinct()
    stmt = stmt.order_by(SearchToken.subject_id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
