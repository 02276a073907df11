"""Fixtures for the AI platform tests: the fake OpenAI endpoint, a customer who writes in, a small KB."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relaydesk.channels.api.client import signed_request_headers
from tests.ai_platform.fake_openai import FakeOpenAI

FAQ = [
    {
        "title": "How long does delivery take?",
        "body": "Standard delivery takes 3 to 5 working days within the EU. Express delivery arrives the next working day if you order before 2 pm.",
        "kind": "faq",
        "url": "https://help.example.com/delivery",
        "tags": ["shipping"],
    },
    {
        "title": "How do I return an item?",
        "body": "You can return any item within 30 days of delivery. Print the free return label from your account page and drop the parcel at any post office. Refunds reach your card within 5 days after we receive the parcel.",
        "kind": "faq",
        "url": "https://help.example.com/returns",
        "tags": ["returns"],
    },
    {
        "title": "Resetting your password",
        "body": "Open the sign-in page and choose 'Forgot password'. We e-mail you a link that is valid for one hour. If the e-mail does not arrive, check your spam folder.",
        "kind": "article",
        "url": None,
        "tags": ["account"],
    },
]


@pytest.fixture(scope="session")
async def fake_openai_server() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI().start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def customer_says(client, run_jobs):  # type: ignore[no-untyped-def]
    """Send a signed inbound message as a customer of the workspace's API inbox, then drain the jobs."""

    async def _say(
        ws: Any,
        text: str,
        *,
        contact_id: str = "cust-1",
        name: str = "Ada Lovelace",
        email: str | None = None,
        phone: str | None = None,
        drain: bool = True,
    ) -> None:
        contact: dict[str, Any] = {"id": contact_id, "name": name}
        if email:
            contact["email"] = email
        if phone:
            contact["phone"] = phone
        body = json.dumps({"id": f"m-{uuid.uuid4().hex[:12]}", "contact": contact, "text": text}).encode()
        resp = await client.post(
            f"/inbound/api/{ws.api_inbox_public_id}",
            content=body,
            headers=signed_request_headers(ws.inbound_secret, body),
        )
        assert resp.status_code == 202, resp.text
        if drain:
            await run_jobs()

    return _say


@pytest.fixture
def seed_kb(client):  # type: ignore[no-untyped-def]
    async def _seed(ws: Any, items: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        out = []
        for item in items or FAQ:
            resp = await client.post("/api/v1/knowledge/articles", json=item, headers=ws.admin.headers)
            assert resp.status_code == 201, resp.text
            out.append(resp.json())
        return out

    return _seed


@pytest.fixture
def enable_ai(client):  # type: ignore[no-untyped-def]
    async def _enable(ws: Any, api_key: str | None = None, **settings: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"settings": {"enabled": True, **settings}}
        if api_key is not None:
            body["api_key"] = api_key
        resp = await client.put("/api/v1/ai/settings", json=body, headers=ws.admin.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    return _enable


async def thread(client, ws) -> tuple[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """The workspace's one conversation id and its messages, oldest first."""
    convs = (await client.get("/api/v1/conversations?status=all", headers=ws.agent.headers)).json()["items"]
    assert len(convs) == 1, convs
    cid = convs[0]["id"]
    items = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=ws.agent.headers)).json()[
        "items"
    ]
    return cid, items


async def decisions(client, ws, cid: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/api/v1/conversations/{cid}/ai-decisions", headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]
