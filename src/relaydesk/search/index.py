"""Write and query the blind token index for messages and contacts.

Every query is scoped to one workspace and the digests come from the workspace's `BlindIndex`
(privacy/blind_index.py, the one tokenizer), so equal words in two workspaces give unrelated digests.
Multi-word queries match documents holding every word (walked from the rarest word); there is no time
window.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from relaydesk.models.search import SearchToken
from relaydesk.privacy.blind_index import BlindIndex

_INSERT_TOKENS = sa.insert(SearchToken.__table__)

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
    await index_subjects(session, index, workspace_id, kind, [(subject_id, texts)])


async def index_subjects(
    session: AsyncSession | AsyncConnection,
    index: BlindIndex,
    workspace_id: uuid.UUID,
    kind: str,
    subjects: Iterable[tuple[uuid.UUID, Iterable[str]]],
) -> None:
    """Index many subjects with one insert (the batch inbound path indexes a whole batch at once)."""
    rows = []
    for subject_id, texts in subjects:
        digests: set[bytes] = set()
        for text in texts:
            if text:
                digests |= index.document_tokens(text)
        rows.extend(
            {"workspace_id": workspace_id, "kind": kind, "token": d, "subject_id": subject_id}
            for d in digests
        )
    if rows:
        await session.execute(_INSERT_TOKENS, rows)


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


# Postings counted per word of a multi-word query, at most: enough to tell a rare word from a common one
# (the intersection then costs at most the rarer word's postings); when every word has more, walking any
# of them finds a page in about limit * corpus / COUNT_CAP probes if the words are independent. 3,000
# measured 2-4 ms faster than 10,000 per query at 1 M messages (bench/README.md, "Search").
COUNT_CAP = 3_000


def _postings(workspace_id: uuid.UUID, kind: str, digest: bytes) -> list[Any]:
    return [SearchToken.workspace_id == workspace_id, SearchToken.kind == kind, SearchToken.token == digest]


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
    """Ids of subjects holding every word of `query`, newest first, optionally older than `before`.

    One word is one walk of the primary key `(workspace_id, kind, token, subject_id)` from the newest
    posting, stopping after `limit`. Several words: a first statement counts each word's postings (capped
    at COUNT_CAP), then the rarest word's postings are walked newest first and every other word is probed
    by primary-key look-up per candidate, stopping after `limit` matches. So the work is bounded by the
    rarer word and the page, never by the postings of the common words.
    """
    digests = sorted(index.query_tokens(query))
    if not digests:
        return []
    if len(digests) > 1:
        counts = (
            await session.execute(
                sa.select(
                    *(
                        sa.select(sa.func.count())
                        .select_from(
                            sa.select(sa.literal(1))
                            .where(*_postings(workspace_id, kind, d))
                            .limit(COUNT_CAP)
                            .subquery()
                        )
                        .scalar_subquery()
                        for d in digests
                    )
                )
            )
        ).one()
        if 0 in counts:
            return []
        digests = [d for _, d in sorted(zip(counts, digests, strict=True))]
    driver, *others = digests
    conditions = _postings(workspace_id, kind, driver)
    if before is not None:
        conditions.append(SearchToken.subject_id < before)
    for digest in others:
        probe = aliased(SearchToken)
        # A scalar subquery, not EXISTS: PostgreSQL may turn EXISTS into a join that reads every posting
        # of the probed word (its generic plan for a prepared statement does, not knowing which word is
        # rare); a scalar subquery stays one primary-key look-up per candidate on both databases.
        conditions.append(
            sa.select(sa.literal(1))
            .where(
                probe.workspace_id == workspace_id,
                probe.kind == kind,
                probe.token == digest,
                probe.subject_id == SearchToken.subject_id,
            )
            .scalar_subquery()
            .is_not(None)
        )
    stmt = (
        sa.select(SearchToken.subject_id)
        .where(*conditions)
        .order_by(SearchToken.subject_id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
