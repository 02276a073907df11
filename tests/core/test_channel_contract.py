"""The channel contract end to end, through a channel shaped like the providers to come: credentials and
settings validated from its schema (400 naming the field, nothing stored), a Meta-style GET handshake, a
Twilio-style signature over the public URL and the sorted form fields, the provider's own acknowledgement,
its refusal status for a bad payload, a stored event parsed again from its kept headers, a reply window
enforced before sending, and a refused credential marking the inbox until an admin replaces it.

The channel is defined here, registered for the test only: the door, the API, the admin and the outbound
job must serve it without knowing it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from relaydesk.actions.keys import shred_contact
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.channels.spec import (
    Answer,
    ChannelSpec,
    FieldSpec,
    InboundRequest,
    InvalidPayload,
    InvalidSignature,
    OutboundMessage,
    Parsed,
    ReauthorisationNeeded,
    SendResult,
)
from relaydesk.models import InboundEvent, Inbox
from relaydesk.models.conversations import Conversation
from relaydesk.privacy import storage
from tests.support.channels import registered
from tests.web.helpers import csrf_of, login

API = "/api/v1"
FORM = "application/x-www-form-urlencoded"


class FormChannel(ChannelSpec):
    name = "formtest"
    label = "Form test channel"
    credentials = (
        FieldSpec("auth_token", "Auth token", kind="secret", required=True),
        FieldSpec("verify_token", "Verify token", kind="secret"),
    )
    settings = (
        FieldSpec("sender", "Sender", kind="text", required=True),
        FieldSpec("port", "Port", kind="port", default=587),
        FieldSpec("mode", "Mode", kind="choice", choices=("a", "b"), default="a"),
        FieldSpec("notify", "Notify", kind="bool", default=False),
    )
    content_types = (FORM,)
    invalid_payload_status = 406
    reply_window_hours = 24
    fake = "relaydesk.channels.api.fake:WebhookReceiver"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    def handshake(self, request: InboundRequest, credentials: Mapping[str, Any]) -> Answer | None:
        q = request.query
        if q.get("hub.mode") != "subscribe" or not hmac.compare_digest(
            q.get("hub.verify_token", "").encode(), str(credentials.get("verify_token", "")).encode()
        ):
            raise InvalidSignature("verify token does not match")
        return Answer(200, q.get("hub.challenge", "").encode())

    def verify(self, request: InboundRequest, credentials: Mapping[str, Any], *, tolerance: int) -> None:
        expected = form_signature(str(credentials["auth_token"]), request.url, request.form)
        if not hmac.compare_digest(expected.encode(), request.headers.get("x-test-signature", "").encode()):
            raise InvalidSignature("signature does not match")

    def dedupe_key(self, request: InboundRequest) -> str | None:
        return f"sms/{request.form_value('MessageSid')}"  # a key format nothing outside the channel knows

    def parse(self, request: InboundRequest) -> Parsed:
        sid, sender, body = (request.form_value(k) for k in ("MessageSid", "From", "Body"))
        if not (sid and sender and body):
            raise InvalidPayload("MessageSid, From and Body are required")
        return Parsed(
            messages=[IncomingMessage(external_contact_id=sender, provider_message_id=sid, text=body)]
        )

    def acknowledge(self, event_id: uuid.UUID | None, duplicate: bool) -> Answer | None:
        return Answer(200, b"<Response></Response>", "text/xml")

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> SendResult:
        if credentials["auth_token"] == "revoked":
            raise ReauthorisationNeeded("token revoked (code 190)")
        self.sent.append(message)
        return SendResult(provider_message_id=f"P{len(self.sent)}")


def form_signature(token: str, url: str, form: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """Twilio's scheme: HMAC-SHA1 over the URL followed by each field's name and value, sorted by name."""
    data = url + "".join(k + v for k, v in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture
def channel() -> Iterator[FormChannel]:
    with registered(FormChannel()) as spec:
        yield spec  # type: ignore[misc]


async def _inbox_count(runtime: Any, ws_id: uuid.UUID) -> int:
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count()).select_from(Inbox).where(Inbox.workspace_id == ws_id)
            )
        ).scalar_one()


async def _create(client: httpx.AsyncClient, ws: Any, **body: Any) -> httpx.Response:
    return await client.post(
        f"{API}/inboxes", json={"name": "Forms", "channel_type": "formtest", **body}, headers=ws.admin.headers
    )


async def test_settings_and_credentials_are_validated_from_the_schema(
    client, runtime, make_workspace, channel
):
    ws = await make_workspace()
    before = await _inbox_count(runtime, ws.id)
    cases = [
        (
            {"settings": {"sender": "Acme", "port": 70000}, "credentials": {"auth_token": "t"}},
            "settings.port",
        ),
        ({"settings": {"sender": "Acme", "nope": 1}, "credentials": {"auth_token": "t"}}, "settings.nope"),
        ({"settings": {"sender": "Acme", "mode": "c"}, "credentials": {"auth_token": "t"}}, "settings.mode"),
        ({"settings": {}, "credentials": {"auth_token": "t"}}, "settings.sender"),
        ({"settings": {"sender": "Acme"}, "credentials": {}}, "credentials.auth_token"),
        ({"settings": {"sender": "Acme"}, "credentials": {"auth_token": 5}}, "credentials.auth_token"),
    ]
    for body, field in cases:
        resp = await _create(client, ws, **body)
        assert resp.status_code == 400, (body, resp.text)
        assert (
            resp.json()["error"]["details"] == {"field": field} and field in resp.json()["error"]["message"]
        )
    assert await _inbox_count(runtime, ws.id) == before  # nothing stored

    # A generated secret is made by Relaydesk, never typed in.
    typed = await client.post(
        f"{API}/inboxes",
        json={"name": "x", "channel_type": "api", "credentials": {"inbound_secret": "whsec_mine"}},
        headers=ws.admin.headers,
    )
    assert typed.status_code == 400 and typed.json()["error"]["details"] == {
        "field": "credentials.inbound_secret"
    }

    made = await _create(
        client, ws, settings={"sender": " Acme ", "port": "2525"}, credentials={"auth_token": "tok-1"}
    )
    assert made.status_code == 201, made.text
    inbox = made.json()
    assert inbox["settings"] == {"sender": "Acme", "port": 2525, "mode": "a", "notify": False}
    assert "secrets" not in inbox and inbox["credentials_set"] == ["auth_token"]
    assert "tok-1" not in made.text  # a typed-in credential is never shown back

    patched = await client.patch(
        f"{API}/inboxes/{inbox['id']}", json={"settings": {"port": "x"}}, headers=ws.admin.headers
    )
    assert patched.status_code == 400 and patched.json()["error"]["details"] == {"field": "settings.port"}
    cleared = await client.patch(
        f"{API}/inboxes/{inbox['id']}", json={"settings": {"sender": None}}, headers=ws.admin.headers
    )
    assert cleared.status_code == 400 and "settings.sender: is required" in cleared.text

    schema = (await client.get(f"{API}/channels", headers=ws.agent.headers)).json()["items"]
    form = next(c for c in schema if c["name"] == "formtest")
    assert form["handshake"] is True and form["reply_window_hours"] == 24
    assert {
        "name": "port",
        "label": "Port",
        "kind": "port",
        "required": False,
        "generated": False,
        "help": "",
        "default": 587,
    } in form["settings"]


async def _form_inbox(client, ws, **credentials: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    made = await _create(
        client,
        ws,
        settings={"sender": "Acme"},
        credentials={"auth_token": "tok-1", "verify_token": "vt", **credentials},
    )
    assert made.status_code == 201, made.text
    return made.json()


async def test_the_door_serves_a_handshake_only_where_the_channel_has_one(client, make_workspace, channel):
    ws = await make_workspace()
    inbox = await _form_inbox(client, ws)
    path = f"/inbound/formtest/{inbox['public_id']}"
    ok = await client.get(
        path, params={"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "c-42"}
    )
    assert ok.status_code == 200 and ok.text == "c-42"
    wrong = await client.get(
        path, params={"hub.mode": "subscribe", "hub.verify_token": "no", "hub.challenge": "x"}
    )
    assert wrong.status_code == 403 and "x" not in wrong.text.replace("verify", "")
    assert (await client.get("/inbound/formtest/nope", params={"hub.mode": "subscribe"})).status_code == 404
    assert (await client.get(f"/inbound/api/{ws.api_inbox_public_id}")).status_code == 404


async def test_a_form_signed_over_the_public_url_is_stored_once_and_acknowledged_the_providers_way(
    client, runtime, run_jobs, make_workspace, channel
):
    ws = await make_workspace()
    inbox = await _form_inbox(client, ws)
    path = f"/inbound/formtest/{inbox['public_id']}"
    public_url = runtime.settings.base_url + path + "?src=1"
    fields = [("MessageSid", "SM1"), ("From", "+15550001"), ("Body", "Hello there"), ("Empty", "")]

    def post(fields: list[tuple[str, str]], *, url: str = public_url, content_type: str = FORM) -> Any:
        return client.post(
            path + "?src=1",
            content=urlencode(fields).encode(),
            headers={"content-type": content_type, "x-test-signature": form_signature("tok-1", url, fields)},
        )

    first = await post(fields)
    assert first.status_code == 200 and first.text == "<Response></Response>"
    assert first.headers["content-type"].startswith("text/xml")
    again = await post(fields)
    assert again.status_code == 200 and again.text == "<Response></Response>"
    # Signed over another URL (an internal host behind a proxy): not what the provider called.
    assert (await post(fields, url="http://10.0.0.5" + path + "?src=1")).status_code == 401
    assert (await post(fields, content_type="application/json")).status_code == 415
    bad = await post([("MessageSid", "SM2"), ("From", "+15550001")])
    assert bad.status_code == 406 and "Body" in bad.text

    async with runtime.db.read() as session:
        events = list(
            (
                await session.execute(sa.select(InboundEvent).where(InboundEvent.workspace_id == ws.id))
            ).scalars()
        )
    assert [e.dedupe_key for e in events] == ["sms/SM1"]
    # What a retry parses: the stored body with the kept content type rebuilds the form.
    stored = InboundRequest.stored(
        storage.open_raw_body(ws.id, events[0].body), events[0].headers, events[0].received_at
    )
    assert events[0].headers == {"content-type": FORM}
    assert channel.parse(stored).messages[0].text == "Hello there"

    await run_jobs()
    convs = (
        await client.get(f"{API}/conversations", params={"inbox_id": inbox["id"]}, headers=ws.agent.headers)
    ).json()["items"]
    assert len(convs) == 1

    # Erasure finds the contact's raw event through its message, whatever the channel's key format.
    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, uuid.UUID(convs[0]["contact"]["id"]))
    async with runtime.db.read() as session:
        event = await session.get(InboundEvent, events[0].id)
    assert event is not None and event.body is None and event.headers == {}


async def _conversation(client, runtime, run_jobs, ws, inbox) -> str:  # type: ignore[no-untyped-def]
    path = f"/inbound/formtest/{inbox['public_id']}"
    fields = [("MessageSid", f"SM{uuid.uuid4().hex}"), ("From", "+15550002"), ("Body", "Help")]
    signature = form_signature("tok-1", runtime.settings.base_url + path, fields)
    resp = await client.post(
        path,
        content=urlencode(fields).encode(),
        headers={"content-type": FORM, "x-test-signature": signature},
    )
    assert resp.status_code == 200, resp.text
    await run_jobs()
    convs = (
        await client.get(f"{API}/conversations", params={"inbox_id": inbox["id"]}, headers=ws.agent.headers)
    ).json()["items"]
    return str(convs[0]["id"])


async def _reply(client, run_jobs, ws, conversation_id: str, text: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    made = await client.post(
        f"{API}/conversations/{conversation_id}/messages", json={"content": text}, headers=ws.agent.headers
    )
    assert made.status_code == 201, made.text
    await run_jobs()
    items = (
        await client.get(f"{API}/conversations/{conversation_id}/messages", headers=ws.agent.headers)
    ).json()["items"]
    return next(m for m in items if m["id"] == made.json()["id"])


async def test_pre_send_rules_and_refused_credentials_stop_sending_with_the_reason_shown(
    client, runtime, run_jobs, make_workspace, channel
):
    ws = await make_workspace()
    inbox = await _form_inbox(client, ws)
    conversation_id = await _conversation(client, runtime, run_jobs, ws, inbox)

    sent = await _reply(client, run_jobs, ws, conversation_id, "Inside the window")
    assert sent["status"] == "sent" and [m.text for m in channel.sent] == ["Inside the window"]
    assert channel.sent[0].sent_by == "agent" and channel.sent[0].last_incoming_at is not None

    # The customer's last message is 25 hours old: refused before any provider call.
    async with runtime.db.write() as session:
        conv = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conv is not None and conv.last_incoming_at is not None
        conv.last_incoming_at = conv.last_incoming_at - dt.timedelta(hours=25)
    late = await _reply(client, run_jobs, ws, conversation_id, "Too late")
    assert late["status"] == "failed" and "24-hour reply window" in late["failure_reason"]
    assert len(channel.sent) == 1
    async with runtime.db.write() as session:
        conv = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conv is not None and conv.last_incoming_at is not None
        conv.last_incoming_at = conv.last_incoming_at + dt.timedelta(hours=25)

    # The provider refuses the token: the message fails, the inbox is marked, nothing more is tried.
    revoked = await client.patch(
        f"{API}/inboxes/{inbox['id']}",
        json={"credentials": {"auth_token": "revoked"}},
        headers=ws.admin.headers,
    )
    assert revoked.status_code == 200 and "revoked" not in revoked.text
    refused = await _reply(client, run_jobs, ws, conversation_id, "Refused")
    assert refused["status"] == "failed" and "token revoked" in refused["failure_reason"]
    health = (await client.get(f"{API}/inboxes/{inbox['id']}", headers=ws.agent.headers)).json()["health"]
    assert health["needs_reauthorisation"] is True and "token revoked" in health["reauthorisation_reason"]
    held = await _reply(client, run_jobs, ws, conversation_id, "Held")
    assert held["status"] == "failed" and "needs re-authorisation" in held["failure_reason"]
    assert len(channel.sent) == 1

    await login(client, ws.admin.email, ws.admin.password)
    page = await client.get("/admin/inboxes")
    assert "needs re-authorisation" in page.text and "tok-1" not in page.text and "revoked" in page.text

    # New credentials from the admin form clear the mark; sending resumes.
    token = await csrf_of(client, "/admin/inboxes")
    saved = await client.post(
        "/admin/inboxes/update",
        data={
            "csrf_token": token,
            "id": inbox["id"],
            "name": "Forms",
            "setting:sender": "Acme",
            "setting:port": "587",
            "setting:mode": "b",
            "credential:auth_token": "tok-2",
            "credential:verify_token": "",
            "is_active": "on",
        },
    )
    assert saved.status_code == 303, saved.text
    shown = (await client.get(f"{API}/inboxes/{inbox['id']}", headers=ws.admin.headers)).json()
    assert shown["health"]["needs_reauthorisation"] is False
    assert shown["settings"]["mode"] == "b" and shown["settings"]["notify"] is False
    async with runtime.db.read() as session:
        creds = storage.read_inbox_credentials(await session.get(Inbox, uuid.UUID(inbox["id"])))
    assert creds == {"auth_token": "tok-2", "verify_token": "vt"}  # a blank secret field keeps the value
    back = await _reply(client, run_jobs, ws, conversation_id, "Back")
    assert back["status"] == "sent" and channel.sent[-1].text == "Back"


async def test_the_admin_form_is_generated_from_the_spec(client, runtime, make_workspace, channel):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    page = await client.get("/admin/inboxes")
    assert (
        'name="formtest:setting:sender"' in page.text and 'name="formtest:credential:auth_token"' in page.text
    )
    assert 'name="api:setting:webhook_url"' in page.text
    assert 'name="api:credential:inbound_secret"' not in page.text  # generated, not typed
    token = await csrf_of(client, "/admin/inboxes")
    bad = await client.post(
        "/admin/inboxes/create",
        data={
            "csrf_token": token,
            "name": "F",
            "channel_type": "formtest",
            "formtest:setting:sender": "Acme",
            "formtest:setting:port": "0",
            "formtest:credential:auth_token": "t",
        },
    )
    assert bad.status_code == 400 and "settings.port" in bad.text
    ok = await client.post(
        "/admin/inboxes/create",
        data={
            "csrf_token": token,
            "name": "F",
            "channel_type": "formtest",
            "formtest:setting:sender": "Acme",
            "formtest:credential:auth_token": "secret-typed",
            "api:setting:webhook_url": "https://ignored.example",
        },
    )
    assert ok.status_code == 303, ok.text
    listed = (await client.get("/admin/inboxes")).text
    assert "secret-typed" not in listed and 'name="setting:sender"' in listed
    async with runtime.db.read() as session:
        made = (
            await session.execute(
                sa.select(Inbox).where(Inbox.workspace_id == ws.id, Inbox.channel_type == "formtest")
            )
        ).scalar_one()
    assert made.settings == {"sender": "Acme", "port": 587, "mode": "a", "notify": False}
