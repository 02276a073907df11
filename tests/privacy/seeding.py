"""Seed personal data through the real doors (signed inbound API channel, agent API) for privacy tests."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import httpx

from relaydesk.channels.api.client import signed_request_headers

NAME = "Zebulon Quixhatch"
EMAIL = "zebulon.quixhatch@example.org"
PHONE = "+44 20 7946 0958"
PHONE_E164 = "+442079460958"
TEXT = "My parcel tracking number is ZQ88412XK and it never arrived"
REPLY = "Sorry about the plumbagoshipment delay"
NOTE = "Customer mentioned Wobblestone warehouse"
ATTACHMENT = b"attachment bytes Kwyjibo-flux-capacitor"
ATTACHMENT_NAME = "Vrillborough-tenancy-scan.txt"
ATTACHMENT_SHA256 = hashlib.sha256(ATTACHMENT).hexdigest()
API_NAME = "Philippa Throgmorton"
API_EMAIL = "philippa.throgmorton@example.net"
API_NOTES = "Prefers calls after Yarrowday"
API_ATTR = "loyalty-Snarkhunter"

SEEDED = [NAME, EMAIL, TEXT, REPLY, NOTE, API_NAME, API_EMAIL, API_NOTES, API_ATTR, PHONE_E164, "ZQ88412XK"]
SEEDED += [ATTACHMENT_NAME, "Vrillborough", ATTACHMENT_SHA256]
# The attachment's plain SHA-256 is a needle too: it would let a holder of the file confirm it was sent.
SEEDED_BYTES = [ATTACHMENT, hashlib.sha256(ATTACHMENT).digest()]


@dataclass
class Seeded:
    conversation_id: str
    contact_id: str
    message_id: str
    api_contact_id: str


async def seed(client: httpx.AsyncClient, ws, run_jobs, *, external_id: str = "cust-zq") -> Seeded:  # type: ignore[no-untyped-def]
    body = json.dumps(
        {
            "id": f"m-{external_id}",
            "contact": {"id": external_id, "name": NAME, "email": EMAIL, "phone": PHONE},
            "text": TEXT,
            "attachments": [
                {
                    "filename": ATTACHMENT_NAME,
                    "content_type": "text/plain",
                    "data_base64": base64.b64encode(ATTACHMENT).decode(),
                }
            ],
        }
    ).encode()
    resp = await client.post(
        f"/inbound/api/{ws.api_inbox_public_id}",
        content=body,
        headers=signed_request_headers(ws.inbound_secret, body),
    )
    assert resp.status_code == 202, resp.text
    await run_jobs()
    convs = (await client.get("/api/v1/conversations", headers=ws.agent.headers)).json()["items"]
    conv = next(c for c in convs if c["contact"]["name"] == NAME)
    for payload in ({"content": REPLY}, {"content": NOTE, "private": True}):
        reply = await client.post(
            f"/api/v1/conversations/{conv['id']}/messages", json=payload, headers=ws.agent.headers
        )
        assert reply.status_code == 201, reply.text
    await run_jobs()
    thread = (
        await client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=ws.agent.headers)
    ).json()
    first = next(m for m in thread["items"] if m["content"] == TEXT)
    api_contact = await client.post(
        "/api/v1/contacts",
        json={
            "name": API_NAME,
            "email": API_EMAIL,
            "notes": API_NOTES,
            "custom_attributes": {"tier": API_ATTR},
        },
        headers=ws.agent.headers,
    )
    assert api_contact.status_code == 201, api_contact.text
    api_contact_id = api_contact.json()["id"]
    return Seeded(conv["id"], conv["contact"]["id"], first["id"], api_contact_id)
