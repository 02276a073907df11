"""Workspace intents: CRUD and validation, debounced background retraining into model versions, the
workspace's model in the agent and assist, handoff and classification by intent, failed trainings."""

from __future__ import annotations

import asyncio
import html
import uuid
from typing import Any

import sqlalchemy as sa

from relaydesk.actions import ai_intents
from relaydesk.db.base import utcnow
from relaydesk.models import ConversationLabel, Job
from relaydesk.models.ai import AiIntent, AiIntentModel
from tests.ai_platform.conftest import decisions, thread
from tests.web.helpers import login

API = "/api/v1/ai/intents"

LOYALTY = [
    "how many loyalty points do I have",
    "what is my loyalty points balance",
    "can I use my reward points on this purchase",
    "my bonus points are missing from my account",
    "how do I redeem loyalty points",
    "when do my reward points expire",
    "I did not get points for my last purchase",
    "check my points balance please",
    "how many points do I earn per euro",
    "transfer my loyalty points to my partner",
]
WARRANTY = [
    "I want to make a warranty claim",
    "my device broke within the warranty period",
    "is this repair covered by warranty",
    "the product stopped working after two months, warranty please",
    "how do I claim the guarantee",
    "warranty repair for my broken headphones",
    "does the warranty cover water damage",
    "I need a warranty replacement",
]


async def _train_jobs(runtime) -> list[Job]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (await session.execute(sa.select(Job).where(Job.kind == ai_intents.TRAIN_JOB))).scalars().all()
        )


async def train_now(runtime, run_jobs, rounds: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Let the debounce delay pass (move the pending trainings' run_at to now) and run the jobs; with
    rounds > 1, also wait out retry backoffs (tests use 0.01-0.05 s)."""
    for _ in range(rounds):
        async with runtime.db.write() as session:
            await session.execute(
                sa.update(Job)
                .where(Job.kind == ai_intents.TRAIN_JOB, Job.state == "pending")
                .values(run_at=utcnow())
            )
        await run_jobs(timeout=120)
        await asyncio.sleep(0.1)


async def _create(client, ws, name: str, examples: list[str], **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    resp = await client.post(
        API, json={"name": name, "examples": examples, **extra}, headers=ws.admin.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_builtin_and_own_intents_crud_validation_and_tenancy(client, runtime, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    resp = await client.get(API, headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    listing = resp.json()
    builtins = {i["name"]: i for i in listing["items"]}
    assert {"order_status", "cancel_order", "talk_to_human", "refund"} <= set(builtins)
    assert all(i["builtin"] and i["enabled"] and i["default_examples"] for i in listing["items"])
    assert listing["model"]["serving"] == "default" and listing["model"]["latest"] is None

    label = (await client.post("/api/v1/labels", json={"name": "loyalty"}, headers=ws.admin.headers)).json()
    created = await _create(
        client, ws, "loyalty_points", LOYALTY, description="Points", label_id=label["id"], priority="high"
    )
    assert created["builtin"] is False and created["examples"] == LOYALTY
    assert created["label_id"] == label["id"] and created["priority"] == "high"
    iid = created["id"]
    shown = (await client.get(f"{API}/{iid}", headers=ws.agent.headers)).json()
    assert shown == created

    # Validation: each a clear 4xx, nothing written.
    bad = [
        ({"name": "Loyalty Points", "examples": ["x y"]}, 400),
        ({"name": "x", "examples": ["x y"]}, 400),
        ({"name": "out_of_scope", "examples": ["x y"]}, 400),
        ({"name": "empty_one", "examples": []}, 400),
        ({"name": "too_many", "examples": [f"phrase {i}" for i in range(501)]}, 400),
        ({"name": "too_long", "examples": ["a" * 501]}, 400),
        ({"name": "blank", "examples": ["   "]}, 400),
        ({"name": "twice", "examples": ["same thing", "Same  thing"]}, 400),
        ({"name": "loyalty_points", "examples": ["something else entirely"]}, 409),
        ({"name": "refund", "examples": ["give me my money"]}, 409),
        ({"name": "clash", "examples": ["how many loyalty points do I have"]}, 400),
        ({"name": "prio", "examples": ["a phrase"], "priority": "extreme"}, 400),
        ({"name": "unknown", "examples": ["a phrase"], "colour": "red"}, 400),
        ({"name": "no_examples"}, 400),
    ]
    for body, status in bad:
        resp = await client.post(API, json=body, headers=ws.admin.headers)
        assert resp.status_code == status, (body, resp.text)
    foreign_label = (
        await client.post("/api/v1/labels", json={"name": "theirs"}, headers=other.admin.headers)
    ).json()
    resp = await client.post(
        API,
        json={"name": "foreign", "examples": ["a phrase"], "label_id": foreign_label["id"]},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 404, resp.text
    names = [i["name"] for i in (await client.get(API, headers=ws.agent.headers)).json()["items"]]
    assert names.count("loyalty_points") == 1 and "foreign" not in names and "clash" not in names

    # Agents read but do not write.
    assert (
        await client.post(API, json={"name": "agent_one", "examples": ["hi there"]}, headers=ws.agent.headers)
    ).status_code == 403
    assert (
        await client.patch(f"{API}/{iid}", json={"handoff": True}, headers=ws.agent.headers)
    ).status_code == 403

    # Built-ins: extended with examples, disabled, never deleted or renamed.
    refund_id = builtins["refund"]["id"]
    resp = await client.patch(
        f"{API}/{refund_id}",
        json={"examples": ["I want my money back for the broken kettle"], "priority": "medium"},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    refund = resp.json()
    assert refund["id"] == refund_id and refund["customized"] is True
    assert refund["examples"] == ["I want my money back for the broken kettle"]
    assert refund["default_examples"] == builtins["refund"]["default_examples"]
    assert (
        await client.patch(f"{API}/{refund_id}", json={"name": "money_back"}, headers=ws.admin.headers)
    ).status_code == 400
    assert (await client.delete(f"{API}/{refund_id}", headers=ws.admin.headers)).status_code == 409
    product_id = builtins["product_question"]["id"]
    resp = await client.patch(f"{API}/{product_id}", json={"enabled": False}, headers=ws.admin.headers)
    assert resp.status_code == 200 and resp.json()["enabled"] is False
    # A built-in's own examples are unchanged by an empty list of additions.
    resp = await client.patch(f"{API}/{refund_id}", json={"examples": []}, headers=ws.admin.headers)
    assert resp.status_code == 200 and resp.json()["examples"] == []
    # Renaming an own intent onto another name is refused.
    await _create(client, ws, "gift_cards", ["do you sell gift cards", "my gift card code does not work"])
    assert (
        await client.patch(f"{API}/{iid}", json={"name": "gift_cards"}, headers=ws.admin.headers)
    ).status_code == 409
    resp = await client.patch(
        f"{API}/{iid}", json={"name": "loyalty", "handoff": True}, headers=ws.admin.headers
    )
    assert resp.status_code == 200 and resp.json()["name"] == "loyalty" and resp.json()["handoff"] is True
    assert (await client.patch(f"{API}/{iid}", json={}, headers=ws.admin.headers)).status_code == 400

    # Another workspace's ids are 404, the built-in ones included.
    for url in (f"{API}/{iid}", f"{API}/{refund_id}"):
        assert (await client.get(url, headers=other.admin.headers)).status_code == 404
        assert (
            await client.patch(url, json={"handoff": True}, headers=other.admin.headers)
        ).status_code == 404
        assert (await client.delete(url, headers=other.admin.headers)).status_code == 404
    other_refund = next(
        i
        for i in (await client.get(API, headers=other.agent.headers)).json()["items"]
        if i["name"] == "refund"
    )
    assert other_refund["id"] != refund_id and other_refund["customized"] is False

    assert (await client.delete(f"{API}/{iid}", headers=ws.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/{iid}", headers=ws.agent.headers)).status_code == 404

    audit = (await client.get("/api/v1/audit-events?target_type=ai_intent", headers=ws.admin.headers)).json()[
        "items"
    ]
    actions = sorted({e["action"] for e in audit})
    assert actions == ["ai.intent_created", "ai.intent_deleted", "ai.intent_updated"], actions
    assert all("LOYALTY" not in str(e) and "loyalty points" not in str(e) for e in audit)


async def test_at_least_two_intents_stay_enabled(client, runtime, make_workspace):
    ws = await make_workspace()
    items = (await client.get(API, headers=ws.agent.headers)).json()["items"]
    for item in items[:-2]:
        resp = await client.patch(f"{API}/{item['id']}", json={"enabled": False}, headers=ws.admin.headers)
        assert resp.status_code == 200, resp.text
    resp = await client.patch(f"{API}/{items[-2]['id']}", json={"enabled": False}, headers=ws.admin.headers)
    assert resp.status_code == 400 and "two intents" in resp.text


async def test_edits_coalesce_into_one_training_and_a_new_version(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    created = await _create(client, ws, "loyalty_points", LOYALTY[:5])
    for extra in (LOYALTY[5:7], LOYALTY[7:]):
        current = (await client.get(f"{API}/{created['id']}", headers=ws.agent.headers)).json()["examples"]
        resp = await client.patch(
            f"{API}/{created['id']}", json={"examples": current + extra}, headers=ws.admin.headers
        )
        assert resp.status_code == 200, resp.text
    jobs = await _train_jobs(runtime)
    assert len(jobs) == 1 and jobs[0].state == "pending" and jobs[0].workspace_id == ws.id
    assert jobs[0].run_at > utcnow()  # debounced, not run in the request
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["latest"]["version"] == 1 and status["latest"]["state"] == "queued"
    assert status["serving"] == "default" and status["up_to_date"] is False

    await train_now(runtime, run_jobs)
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["serving"] == "workspace" and status["serving_version"] == 1 and status["up_to_date"]
    current = status["current"]
    assert current["state"] == "ready" and current["attempts"] == 1 and current["size_bytes"] > 0
    assert current["example_count"] > len(LOYALTY) and current["trained_at"]
    # Each training also cross-validates the phrases it learned from (ai/evaluation.py).
    check = current["evaluation"]
    assert check["evaluated"] == current["example_count"] and 0 < check["accuracy"] <= 1
    assert "loyalty_points" in {row["intent"] for row in check["intents"]}
    assert all(c["example"] and c["intent"] != c["predicted_as"] for c in check["confusions"])

    # Settings that do not change what the model learns retrain nothing.
    resp = await client.patch(
        f"{API}/{created['id']}", json={"handoff": True, "description": "Points"}, headers=ws.admin.headers
    )
    assert resp.status_code == 200
    assert [j.state for j in await _train_jobs(runtime)] == ["done"]

    # A change of examples queues version 2; once trained, it replaces version 1.
    resp = await client.patch(
        f"{API}/{created['id']}", json={"examples": LOYALTY[:9]}, headers=ws.admin.headers
    )
    assert resp.status_code == 200
    assert sorted(j.state for j in await _train_jobs(runtime)) == ["done", "pending"]
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["serving_version"] == 1 and status["latest"]["version"] == 2
    await train_now(runtime, run_jobs)
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["serving_version"] == 2 and status["latest"]["state"] == "ready"
    async with runtime.db.read() as session:
        versions = (
            (
                await session.execute(
                    sa.select(AiIntentModel.version).where(AiIntentModel.workspace_id == ws.id)
                )
            )
            .scalars()
            .all()
        )
    assert list(versions) == [2]

    # The admin's Intents page shows the check of the serving version: accuracy, per-intent share.
    check = status["current"]["evaluation"]
    await login(client, ws.admin.email, ws.admin.password)
    page = html.unescape((await client.get("/admin/intents")).text)
    assert f"Estimated accuracy {check['accuracy'] * 100:.1f} %" in page.replace("<strong>", "").replace(
        "</strong>", ""
    )
    assert f"each of {check['evaluated']}" in page and "Recognised" in page
    for c in check["confusions"][:5]:
        assert f'data-confused="{c["intent"]}:{c["predicted_as"]}"' in page


async def test_custom_intent_is_detected_classified_and_shown_in_assist(
    client, runtime, make_workspace, run_jobs, enable_ai, customer_says
):
    ws = await make_workspace()
    label = (await client.post("/api/v1/labels", json={"name": "loyalty"}, headers=ws.admin.headers)).json()
    await _create(client, ws, "loyalty_points", LOYALTY, label_id=label["id"], priority="high")
    phrase = "how many reward points are on my loyalty account?"
    before = (await client.post(f"{API}/test", json={"text": phrase}, headers=ws.agent.headers)).json()
    assert before["model"] == "default" and before["intent"] != "loyalty_points"

    await train_now(runtime, run_jobs)
    resp = await client.post(f"{API}/test", json={"text": phrase}, headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["model"] == "workspace" and after["model_version"] == 1
    assert after["intent"] == "loyalty_points" and not after["out_of_scope"], after
    assert after["label_id"] == label["id"] and after["priority"] == "high"
    assert len(after["top"]) == 3 and after["top"][0]["intent"] == "loyalty_points"
    # The built-in intents are still known to the workspace's model.
    refund = (
        await client.post(
            f"{API}/test", json={"text": "I want a refund for my order"}, headers=ws.agent.headers
        )
    ).json()
    assert refund["intent"] == "refund"
    # Another workspace keeps the built-in model.
    other = await make_workspace("Other")
    theirs = (await client.post(f"{API}/test", json={"text": phrase}, headers=other.agent.headers)).json()
    assert theirs["model"] == "default" and theirs["intent"] != "loyalty_points"
    for body in ({"text": ""}, {"text": "x" * 2001}, {}):
        assert (await client.post(f"{API}/test", json=body, headers=ws.agent.headers)).status_code == 400

    # The agent sees the workspace's intent, applies its classification and logs both.
    await enable_ai(ws)
    await customer_says(ws, phrase)
    cid, _ = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert len(log) == 1
    inputs = log[0]["inputs"]
    assert inputs["intent"] == "loyalty_points" and inputs["intent_model_version"] == 1
    assert inputs["classification"]["label_id"] == label["id"]
    assert sorted(inputs["classification"]["applied"]) == ["label", "priority"]
    conv = (await client.get(f"/api/v1/conversations/{cid}", headers=ws.agent.headers)).json()
    assert conv["priority"] == "high"
    async with runtime.db.read() as session:
        linked = (
            (
                await session.execute(
                    sa.select(ConversationLabel.label_id).where(
                        ConversationLabel.conversation_id == uuid.UUID(cid)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [str(x) for x in linked] == [label["id"]]

    assist = (await client.get(f"/api/v1/conversations/{cid}/assist", headers=ws.agent.headers)).json()
    assert assist["intent"]["name"] == "loyalty_points" and assist["intent"]["model_version"] == 1
    assert assist["suggested_labels"][0]["label_id"] == label["id"]


async def test_handoff_intents_hand_off_at_once(
    client, runtime, make_workspace, run_jobs, enable_ai, customer_says, seed_kb
):
    # A built-in intent marked `handoff` works at once, on the built-in model, without retraining.
    ws = await make_workspace()
    await seed_kb(ws)
    await enable_ai(ws)
    items = {i["name"]: i for i in (await client.get(API, headers=ws.agent.headers)).json()["items"]}
    resp = await client.patch(
        f"{API}/{items['cancel_order']['id']}", json={"handoff": True}, headers=ws.admin.headers
    )
    assert resp.status_code == 200
    assert await _train_jobs(runtime) == []
    await customer_says(ws, "I want to cancel my order")
    cid, _ = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert [d["action"] for d in log] == ["handoff"], log
    assert log[0]["reason_category"] == "policy_restriction"
    assert log[0]["inputs"]["rule"] == "intent:cancel_order"

    # An own intent marked `handoff` hands off once its model is trained.
    ws2 = await make_workspace("Second")
    await seed_kb(ws2)
    await enable_ai(ws2)
    await _create(client, ws2, "warranty_claim", WARRANTY, handoff=True)
    await train_now(runtime, run_jobs)
    await customer_says(ws2, "my headphones broke, is that covered by the warranty?")
    cid2, _ = await thread(client, ws2)
    log2 = await decisions(client, ws2, cid2)
    assert [d["action"] for d in log2] == ["handoff"], log2
    assert log2[0]["inputs"]["rule"] == "intent:warranty_claim"
    assert log2[0]["inputs"]["intent_model_version"] == 1


async def test_failed_training_keeps_the_previous_model_and_dead_letters(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    created = await _create(client, ws, "loyalty_points", LOYALTY)
    await train_now(runtime, run_jobs)
    phrase = "how many reward points are on my loyalty account?"
    # Leave the workspace with one intent by writing the database directly (the API refuses it), so the
    # next training fails for real: a classifier needs two intents.
    async with runtime.db.write() as session:
        for name in ai_intents.DEFAULT_INTENTS:
            session.add(
                AiIntent(
                    id=ai_intents.builtin_id(ws.id, name),
                    workspace_id=ws.id,
                    name=name,
                    builtin=True,
                    examples=[],
                    enabled=False,
                )
            )
        await ai_intents.request_retrain(session, ws.id)
    await train_now(runtime, run_jobs, rounds=4)
    jobs = sorted(await _train_jobs(runtime), key=lambda j: j.created_at)
    assert [j.state for j in jobs] == ["done", "dead"]
    assert jobs[1].attempts == ai_intents.TRAIN_MAX_ATTEMPTS and "two intents" in (jobs[1].last_error or "")
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["serving_version"] == 1 and status["up_to_date"] is False
    assert status["latest"]["version"] == 2 and status["latest"]["state"] == "failed"
    assert status["latest"]["error"].startswith("gave up after 3 attempts")
    still = (await client.post(f"{API}/test", json={"text": phrase}, headers=ws.agent.headers)).json()
    assert still["model_version"] == 1 and still["intent"] == "loyalty_points"

    # Fixing the intents retrains the failed version, which then serves.
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(AiIntent)
            .where(AiIntent.workspace_id == ws.id, AiIntent.builtin.is_(True))
            .values(enabled=True)
        )
    resp = await client.patch(
        f"{API}/{created['id']}", json={"examples": LOYALTY[:8]}, headers=ws.admin.headers
    )
    assert resp.status_code == 200, resp.text
    await train_now(runtime, run_jobs)
    status = (await client.get(f"{API}/model", headers=ws.agent.headers)).json()
    assert status["serving_version"] == 2 and status["latest"]["state"] == "ready"
