"""Bad input gets a clear 4xx in the one error format and writes nothing."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from relaydesk.db.base import Base

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
