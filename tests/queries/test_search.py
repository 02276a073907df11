"""Message search returns exactly the messages holding every word, newest first, page after page.

Multi-word search walks the rarest word and probes the others (search/index.py); the results must not
depend on which word drives, on the order the words are typed, or on the posting-count cap.
"""

from __future__ import annotations

import uuid

import pytest

from relaydesk.actions.incoming import receive_incoming
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage
from relaydesk.search import index as search_index

COUNT = 40


def _words(n: int) -> list[str]:
    words = ["alpha"]  # every message
    if n % 3 == 0:
        words.append("beta")
    if n % 5 == 0:
        words.append("Gamma")  # case-folded like the rest
    if n == 17:
        words.append("delta")
    return [*words, f"filler{n}"]


@pytest.fixture
async def corpus(runtime, make_workspace):  # type: ignore[no-untyped-def]
    """COUNT messages with words of known frequencies; returns the workspace and {message id: words}."""
    ws = await make_workspace()
    texts: dict[uuid.UUID, set[str]] = {}
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        assert inbox is not None
        for n in range(COUNT):
            words = _words(n)
            msg, _ = await receive_incoming(
                session,
                inbox,
                IncomingMessage(
                    external_contact_id=f"c-{n % 4}", provider_message_id=f"m-{n}", text=" ".join(words)
                ),
            )
            texts[msg.id] = {w.lower() for w in words}
    return ws, texts


async def _all_pages(runtime, ws, query: str, page: int) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    found: list[uuid.UUID] = []
    before = None
    while True:
        async with runtime.db.read() as session:
            ids = await storage.search_messages(session, ws.id, query, before=before, limit=page)
        found += ids
        if len(ids) < page:
            return found
        before = ids[-1]


QUERIES = [
    "alpha",
    "beta",
    "delta",
    "alpha beta",
    "beta alpha",
    "gamma beta",
    "Beta GAMMA alpha",
    "delta alpha",
    "delta beta",
    "nothing",
    "alpha nothing",
]


@pytest.mark.parametrize("cap", [search_index.COUNT_CAP, 2])
async def test_every_query_finds_exactly_its_messages_newest_first(runtime, corpus, monkeypatch, cap):  # type: ignore[no-untyped-def]
    """cap=2 makes every count hit the cap, so the driver is chosen among 'equally common' words."""
    monkeypatch.setattr(search_index, "COUNT_CAP", cap)
    ws, texts = corpus
    for query in QUERIES:
        wanted = set(query.lower().split())
        expected = sorted((mid for mid, words in texts.items() if wanted <= words), reverse=True)
        for page in (4, 50):
            assert await _all_pages(runtime, ws, query, page) == expected, (query, page)


async def test_search_is_scoped_to_the_workspace(runtime, corpus, make_workspace):  # type: ignore[no-untyped-def]
    _ws, _texts = corpus
    other = await make_workspace("Other")
    async with runtime.db.read() as session:
        assert await storage.search_messages(session, other.id, "alpha beta", before=None, limit=20) == []
