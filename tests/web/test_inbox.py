"""The inbox page and its page-shaped reads: first view, search over messages and contacts, contact panel."""

from __future__ import annotations

import json
import re

from relaydesk.channels.api.client import signed_request_headers
from tests.web.helpers import csrf_of, login


async def customer_writes(client, ws, text: str, contact: str, name: str) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(
        {"id": f"{contact}-{text}", "contact": {"id": contact, "name": name}, "text": text}
    ).encode()
    resp = await client.post(
        f"/inbound/api/{ws.api_inbox_public_id}",
        content=body,
        headers=signed_request_headers(ws.inbound_secret, body),
    )
    assert resp.status_code == 202


async def test_inbox_page_search_and_contact_panel(client, run_jobs, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    await customer_writes(client, ws, "The parcel never arrived", "c-1", "Grace Hopper")
    await customer_writes(client, ws, "Thanks for the help", "c-2", "Alan Turing")
    await customer_writes(client, other, "parcel in another workspace", "c-9", "Zed")
    await run_jobs()
    await login(client, ws.agent.email, ws.agent.password)

    page = await client.get("/inbox?assignee=all&status=open&sort=waiting")
    assert page.status_code == 200
    boot = json.loads(
        re.search(
            r'<script type="application/json" id="boot" nonce="[^"]+">(.*?)</script>', page.text, re.S
        ).group(1)
    )
    assert {c["contact"]["name"] for c in boot["items"]} == {"Grace Hopper", "Alan Turing"}
    assert boot["seq"] > 0 and boot["me"]["id"] == str(ws.agent.user_id)
    assert (await client.get("/inbox?status=bogus")).status_code == 400

    by_message = (await client.get("/inbox/search", params={"q": "parcel"})).json()["items"]
    assert [c["contact"]["name"] for c in by_message] == ["Grace Hopper"]  # not the other workspace's
    by_contact = (await client.get("/inbox/search", params={"q": "turing"})).json()["items"]
    assert [c["contact"]["name"] for c in by_contact] == ["Alan Turing"]
    assert (await client.get("/inbox/search", params={"q": " "})).status_code == 400

    contact_id = by_message[0]["contact"]["id"]
    panel = (await client.get(f"/inbox/contacts/{contact_id}/panel")).json()
    assert panel["contact"]["name"] == "Grace Hopper"
    assert panel["identities"] == [{"inbox": "API", "channel_type": "api", "external_id": "c-1"}]
    assert [c["id"] for c in panel["conversations"]] == [by_message[0]["id"]]
    token = await csrf_of(client, "/inbox")
    saved = await client.post(
        f"/inbox/contacts/{contact_id}/notes", data={"csrf_token": token, "notes": "prefers e-mail"}
    )
    assert saved.status_code == 200
    panel = (await client.get(f"/inbox/contacts/{contact_id}/panel")).json()
    assert panel["contact"]["notes"] == "prefers e-mail"

    # Another workspace's conversation or contact is a 404 here.
    other_conv = None
    await login(client, other.agent.email, other.agent.password)
    other_conv = (await client.get("/inbox/search", params={"q": "parcel"})).json()["items"][0]
    await login(client, ws.agent.email, ws.agent.password)
    assert (await client.get(f"/inbox/contacts/{other_conv['contact']['id']}/panel")).status_code == 404
    assert (await client.get(f"/inbox/c/{other_conv['id']}")).status_code == 404
