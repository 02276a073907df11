"""AI configuration and outgoing-webhook changes land in the audit chain, by id, without values."""

from __future__ import annotations

import json

import sqlalchemy as sa

from relaydesk.models import AuditEvent
from relaydesk.privacy import audit


async def _actions(runtime, workspace_id) -> list[AuditEvent]:
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(AuditEvent)
                    .where(AuditEvent.workspace_id == workspace_id)
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        )


async def test_ai_settings_and_webhook_changes_are_audited(client, runtime, make_workspace):
    ws = await make_workspace()
    resp = await client.put(
        "/api/v1/ai/settings", json={"settings": {"auto_reply": False}}, headers=ws.admin.headers
    )
    assert resp.status_code == 200, resp.text
    hook = await client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/relaydesk"}, headers=ws.admin.headers
    )
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["id"]
    secret = hook.json()["secret"]
    assert (
        await client.post(f"/api/v1/webhooks/{hook_id}/rotate-secret", headers=ws.admin.headers)
    ).status_code == 200
    assert (await client.delete(f"/api/v1/webhooks/{hook_id}", headers=ws.admin.headers)).status_code == 204

    rows = await _actions(runtime, ws.id)
    actions = [r.action for r in rows]
    for expected in ("ai.settings_changed", "webhook.created", "webhook.secret_rotated", "webhook.deleted"):
        assert expected in actions
    by_action = {r.action: r for r in rows}
    assert by_action["webhook.created"].actor_id == str(ws.admin.user_id)
    assert by_action["webhook.created"].target_id == hook_id
    assert by_action["ai.settings_changed"].details["keys"] == ["auto_reply"]
    dumped = json.dumps([r.details for r in rows])
    assert "hooks.example.com" not in dumped and secret not in dumped
    async with runtime.db.read() as session:
        assert await audit.verify(session, ws.id) == []
