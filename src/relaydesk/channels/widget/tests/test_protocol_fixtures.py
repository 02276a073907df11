"""The documented frames and bodies (fixtures/) work as they are: the chat frame and integrators' own
clients can rely on them."""

from __future__ import annotations

import json
from pathlib import Path

from relaydesk.channels.widget.identity import TOKEN_HEADER, user_hash
from relaydesk.channels.widget.tests.support import make_widget_inbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOST = "http://shop.example"


def fixture(name: str, **replace: str) -> dict:  # type: ignore[type-arg]
    text = (FIXTURES / name).read_text()
    for key, value in replace.items():
        text = text.replace(f"__{key}__", value)
    return json.loads(text)


async def test_the_documented_frames(relaydesk_server, make_workspace, visitors):  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    inbox = await make_widget_inbox(relaydesk_server.runtime, ws.id, allowed_origins=[HOST])
    visitor = visitors(relaydesk_server.url, inbox.public_id, HOST)
    body = fixture("session_request.json", USER_HASH=user_hash(inbox.identity_secret, "user-42"))
    started = await visitor.http.post("/api/session", json=body, headers={"origin": visitor.origin})
    assert started.status_code == 201 and started.json()["identified"] is True
    visitor.token = started.json()["token"]
    seq = (await visitor.http.get("/api/messages", headers={TOKEN_HEADER: visitor.token})).json()["seq"]

    socket = await visitor.socket(last_seen_seq=seq)
    await socket.next("hello")
    await socket.ws.send(json.dumps(fixture("hello.json", TOKEN=visitor.token, SEQ=str(seq))))
    error = await socket.next("error")  # a second hello is not a frame the open socket takes
    assert error["status"] == 400
    await socket.send(fixture("message_create.json"))
    ack = await socket.next("ack")
    assert ack["client_msg_id"] == "c7d0a8f2e4b14f5e"
    assert ack["message"]["text"] == "Hello, can I change my delivery address?"
    await socket.send(fixture("typing.json"))
    await socket.send({"type": "ping"})
    assert (await socket.next("pong"))["seq"] >= seq
    await socket.close()
