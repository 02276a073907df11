"""Bad input gets a clear 4xx in the one error format and writes nothing."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
import websockets

from relaydesk.db.base import Base
from tests.realtime.support import LiveServer

API = "/api/v1"

WRITES = [
    ("POST", "/labels", {"name": "ok"}),
    ("POST", "/teams", {"name": "ok"}),
    ("POST", "/canned-responses", {"short_code": "ok", "content": "ok"}),
    ("POST", "/attribute-definitions", {"applies_to": "contact", "key": "ok", "label": "ok"}),
    ("POST", "/contacts", {"name": "ok"}),
    ("POST", "/inboxes", {"name": "ok", "channel_type": "api"}),
    ("POST", "/webhooks", {"url": "https://example.com/h"}),
    ("POST", "/api-tokens", {"name": "ok"}),
    ("POST", "/invitations", {"email": "ok@example.com"}),
    ("PATCH", "/workspace", {"name": "ok"}),
]


async def total_rows(runtime) -> int:
    async with runtime.db.read() as session:
        total = 0
        for table in Base.metadata.sorted_tables:
            total += (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        return total


def assert_error(resp, status: int) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] and error["message"]


async def test_malformed_bodies_write_nothing(client, runtime, make_workspace):
    ws = await make_workspace()
    h = {**ws.owner.headers, "content-type": "application/json"}
    before = await total_rows(runtime)
    for method, path, valid in WRITES:
        field = next(iter(valid))
        cases = [
            b"{not json",
            b"[]",
            b'"a string"',
            b"",
            ("{" + f'"{field}": 12345' + "}").encode(),  # wrong type
            ("{" + ",".join([f'"{k}": "{v}"' for k, v in valid.items()] + ['"surprise": 1']) + "}").encode(),
        ]
        for body in cases:
            resp = await client.request(method, f"{API}{path}", content=body, headers=h)
            assert_error(resp, 400)
        big = b'{"name": "' + b"x" * (runtime.settings.max_body_bytes + 10) + b'"}'
        assert_error(await client.request(method, f"{API}{path}", content=big, headers=h), 413)
    assert await total_rows(runtime) == before


async def test_unknown_ids_and_bad_query_parameters(client, runtime, make_workspace):
    ws = await make_workspace()
    h = ws.owner.headers
    before = await total_rows(runtime)
    missing = uuid.uuid4()
    for method, path, body in [
        ("GET", f"/labels/{missing}", None),
        ("PATCH", f"/labels/{missing}", {"name": "x"}),
        ("DELETE", f"/teams/{missing}", None),
        ("PUT", f"/teams/{missing}/members", {"user_ids": []}),
        ("GET", f"/contacts/{missing}/conversations", None),
        ("POST", f"/contacts/{missing}/identities", {"inbox_id": str(ws.api_inbox_id), "external_id": "x"}),
        ("POST", f"/inboxes/{missing}/rotate-secret", {}),
        ("POST", f"/jobs/{missing}/retry", None),
        ("DELETE", f"/webhooks/{missing}", None),
        ("POST", f"/members/{missing}/deactivate", None),
        ("POST", "/conversations", {"inbox_id": str(missing), "contact_id": str(missing)}),
    ]:
        assert_error(await client.request(method, f"{API}{path}", json=body, headers=h), 404)
    for query in (
        "/labels?limit=0",
        "/labels?limit=101",
        "/labels?limit=x",
        "/labels?cursor=%%%",
        "/contacts?cursor=bm90IGpzb24",
        "/jobs?state=exploded",
        "/attribute-definitions?applies_to=message",
    ):
        assert_error(await client.get(f"{API}{query}", headers=h), 400)
    assert (await client.get(f"{API}/labels/not-a-uuid", headers=h)).status_code in (400, 404)
    assert await total_rows(runtime) == before


async def test_dead_job_retry_only_for_dead_jobs(client, runtime, make_workspace, run_jobs):
    from relaydesk.jobs.outbox import enqueue

    ws = await make_workspace()
    async with runtime.db.write() as session:
        job_id = await enqueue(
            session, "test.no-such-handler", {"token": "s3cret", "n": 1}, workspace_id=ws.id
        )
    await run_jobs()
    listed = (await client.get(f"{API}/jobs?state=dead", headers=ws.admin.headers)).json()["items"]
    assert [j["id"] for j in listed] == [str(job_id)]
    assert listed[0]["payload"] == {"token": "[redacted]", "n": 1} and "no handler" in listed[0]["last_error"]
    assert (await client.get(f"{API}/jobs", headers=ws.agent.headers)).status_code == 403
    retried = await client.post(f"{API}/jobs/{job_id}/retry", headers=ws.admin.headers)
    assert (
        retried.status_code == 200
        and retried.json()["state"] == "pending"
        and retried.json()["attempts"] == 0
    )
    assert_error(await client.post(f"{API}/jobs/{job_id}/retry", headers=ws.admin.headers), 409)


# Every route that takes a body, with a path id that exists nowhere (the gate answers before the handler).
_ANY = "00000000-0000-4000-8000-000000000000"
BODY_ROUTES = [
    ("POST", "/inbound/api/no-such-inbox"),
    ("POST", f"{API}/invitations/accept"),
    ("PUT", f"{API}/ai/settings"),
    ("POST", f"{API}/members"),
    ("POST", f"{API}/conversations/{_ANY}/messages"),
    ("PATCH", f"{API}/workspace"),
    ("POST", f"{API}/labels"),
    ("PUT", f"{API}/teams/{_ANY}/members"),
    ("POST", f"{API}/knowledge/articles"),
    ("POST", "/login"),
    ("POST", "/admin/labels/create"),
]


async def test_deeply_nested_json_is_400_on_every_route(client, runtime, make_workspace):
    ws = await make_workspace()
    before = await total_rows(runtime)
    nested = b"[" * 2048
    objects = b'{"a":' * 40 + b"1" + b"}" * 40
    for headers in (
        {"content-type": "application/json"},
        {**ws.owner.headers, "content-type": "application/json"},
    ):
        for method, path in BODY_ROUTES:
            for body in (nested, objects):
                resp = await client.request(method, path, content=body, headers=headers)
                assert_error(resp, 400)
                assert "nested deeper" in resp.json()["error"]["message"]
    # Depth counts brackets, not characters inside strings; 32 levels are fine for the gate.
    inside_string = b'{"name": "' + b"[" * 2000 + b'"}'
    resp = await client.post(f"{API}/labels", content=inside_string, headers=ws.owner.headers)
    assert resp.status_code != 500 and "nested" not in resp.text
    assert await total_rows(runtime) == before


async def test_body_size_is_refused_before_reading(client, runtime, make_workspace):
    ws = await make_workspace()
    limit = runtime.settings.max_body_bytes
    for method, path in BODY_ROUTES:
        # Announced too large: refused on the header alone (the body sent is tiny).
        resp = await client.request(
            method, path, content=b"{}", headers={**ws.owner.headers, "content-length": str(limit + 1)}
        )
        assert_error(resp, 413)

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    resp = await client.post(f"{API}/labels", content=chunks(), headers=ws.owner.headers)
    assert_error(resp, 413)


async def test_huge_numbers_in_parameters_are_400_naming_them(client, runtime, make_workspace):
    ws = await make_workspace()
    h = ws.owner.headers
    for query, name in (
        ("/events?after=99999999999999999999", "after"),
        ("/events?after=-99999999999999999999", "after"),
        ("/events?limit=99999999999999999999", "limit"),
        ("/labels?limit=99999999999999999999", "limit"),
        ("/conversations?limit=-99999999999999999999", "limit"),
    ):
        resp = await client.get(f"{API}{query}", headers=h)
        assert_error(resp, 400)
        assert name in resp.json()["error"]["message"], resp.text
    assert (await client.get(f"{API}/events?after=9223372036854775807", headers=h)).status_code == 200
    # A long run of digits in a text parameter is text, not a number.
    assert (await client.get(f"{API}/contacts?q=99999999999999999999", headers=h)).status_code == 200
    # In a JSON body too: named by its path.
    resp = await client.post(
        f"{API}/knowledge/search", json={"query": "x", "limit": 99999999999999999999}, headers=h
    )
    assert_error(resp, 400)
    assert resp.json()["error"]["details"] == {"field": "limit"}


NUL_WRITES = [
    ("POST", "/labels", {"name": "a\x00b"}, "name"),
    ("POST", "/teams", {"name": "a\x00b"}, "name"),
    ("POST", "/inboxes", {"name": "a\x00b", "channel_type": "api"}, "name"),
    ("POST", "/knowledge/articles", {"title": "ok", "body": "a\x00b"}, "body"),
    ("POST", "/webhooks", {"url": "https://example.com/h", "description": "a\x00b"}, "description"),
    (
        "POST",
        "/contacts",
        {"name": "ok", "custom_attributes": {"plan": ["x", "a\x00b"]}},
        "custom_attributes.plan[1]",
    ),
    ("POST", "/labels", {"name": "a\ud800b"}, "name"),
    ("POST", "/labels", {"na\x00me": "ok"}, "a key of the body"),
]


async def test_unstorable_text_is_400_naming_the_field_at_every_door(client, runtime, make_workspace):
    ws = await make_workspace()
    h = ws.owner.headers
    before = await total_rows(runtime)
    for method, path, body, field in NUL_WRITES:
        raw = json.dumps(body).encode()  # NUL as \u0000 and a lone surrogate as \ud800, as JSON allows
        resp = await client.request(method, f"{API}{path}", content=raw, headers=h)
        assert_error(resp, 400)
        assert field in resp.json()["error"]["message"], resp.text
    # A raw NUL byte in a body is refused too.
    assert_error(await client.post(f"{API}/labels", content=b'{"name": "a\x00"}', headers=h), 400)
    for query, name in (
        ("/contacts?q=%00", "q"),
        ("/canned-responses?q=a%00", "q"),
        ("/messages/search?q=%00", "q"),
        ("/audit-events?action=%00", "action"),
        ("/audit-events?target_type=x%00y", "target_type"),
        ("/labels?cursor=%00", "cursor"),
    ):
        resp = await client.get(f"{API}{query}", headers=h)
        assert_error(resp, 400)
        assert resp.json()["error"]["details"] == {"field": name}, resp.text
    # Path parameters and form posts.
    assert_error(await client.get("/invite/abc%00def"), 400)
    resp = await client.post("/login", data={"email": "a\x00@example.com", "password": "x"})
    assert_error(resp, 400)
    assert resp.json()["error"]["details"] == {"field": "email"}
    assert await total_rows(runtime) == before
    # Emoji (a surrogate pair in JSON) is ordinary text.
    ok = await client.post(f"{API}/labels", content=b'{"name": "\\ud83d\\ude00 vip"}', headers=h)
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "\U0001f600 vip"


async def test_unstorable_text_in_the_websocket_query_is_refused(runtime, make_workspace):
    ws = await make_workspace()
    server = await LiveServer(runtime).start()
    try:
        for query, field in (("after=99999999999999999999", "after"), ("x=%00", "x")):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(
                    f"{server.ws_url}?{query}", additional_headers=ws.owner.headers, open_timeout=5
                ):
                    pass
            assert refused.value.response.status_code == 400
            assert json.loads(refused.value.response.body)["error"]["details"] == {"field": field}
    finally:
        await server.stop()


async def test_a_form_field_that_is_not_utf8_is_400_not_500(client):
    """A multipart form with bytes that are not UTF-8 is refused by the input gate, whatever the route."""
    files = {"email": (None, b"a\xe9@example.com"), "password": (None, b"x")}
    resp = await client.post("/login", files=files)
    assert resp.status_code == 400, resp.text
    assert "not valid UTF-8" in resp.text
