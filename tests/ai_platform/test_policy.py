"""The decision order of the automated agent, checked on `decide` directly (no database needed)."""

from __future__ import annotations

from relaydesk.ai.agent import policy
from relaydesk.ai.agent.autoreply import Situation, Turn, decide
from relaydesk.ai.agent.settings import merge
from relaydesk.ai.agent.understanding import Intent, embed, sentiment
from relaydesk.ai.knowledge.retrieval import Hit
from relaydesk.ai.providers import Passage
from relaydesk.ai.providers.local import LocalProvider

PASSAGE = Passage("c1", "a1", "Delivery", "Delivery takes 3 to 5 days.", "https://x.test/d", "faq", 0.9)


async def _hits(_q: str) -> list[Hit]:
    return [Hit(PASSAGE, 0.03, 0.9, 2.0, 0, 0)]


async def _decide(text: str, history=(), **kw):  # type: ignore[no-untyped-def]
    settings = merge({"enabled": True, **kw.pop("settings", {})}, None)
    situation = Situation(settings, "m1", text, list(history), **kw)
    return await decide(situation, _hits, LocalProvider(embed), embed, sentiment)


def test_keyword_rules():
    for text in [
        "Can I speak to a human?",
        "I want a real person",
        "get me an agent now",
        "talk to someone please",
    ]:
        assert policy.asks_for_human(text), text
    for text in ["I don't want a bot", "no AI please", "I object to automated decisions", "stop the bot"]:
        assert policy.objects_to_automation(text), text
    for text in ["How long is delivery?", "My order number is 1234", "Is the item humane to animals?"]:
        assert not policy.asks_for_human(text) and not policy.objects_to_automation(text), text
    assert policy.contests("That's wrong.") and policy.contests("this did not help")
    assert policy.policy_rule("I will talk to my lawyer", []) == "legal"
    assert policy.policy_rule("I want a VIP discount", ["vip"]) == "keyword:vip"
    assert policy.affirms("yes please") and not policy.affirms("no thanks")


async def test_order_of_checks():
    assert (await _decide("How long is delivery?")).action == "answer"
    plan = await _decide("no bots, I want a human")
    assert (plan.action, plan.switch_off) == ("handoff", "contact")
    plan = await _decide("How long is delivery? I want a human.")
    assert (plan.action, plan.reason_category) == ("handoff", "customer_request")
    plan = await _decide("send me to VIP service", settings={"handoff_keywords": ["vip"]})
    assert (plan.action, plan.reason_category) == ("handoff", "policy_restriction")
    assert plan.inputs["rule"] == "keyword:vip"
    plan = await _decide("That's wrong.", last_ai_action="answer")
    assert (plan.action, plan.reason_category, plan.contest_last) == ("handoff", "contested", True)
    # The intent model can add to the rules: a confident talk-to-human intent hands off.
    plan = await _decide("could you put me through", intent=Intent("talk_to_human", 0.9, False))
    assert plan.action == "handoff"
    plan = await _decide("could you put me through", intent=Intent("talk_to_human", 0.2, False))
    assert plan.action == "answer"


async def test_loop_is_offered_a_person_then_handed_off():
    history = [
        Turn("customer", "Where is my parcel?", "m0"),
        Turn("ai", "Delivery takes 3 to 5 days.", "r0"),
        Turn("customer", "Where is my parcel??", "m1"),
        Turn("ai", "Delivery takes 3 to 5 days.", "r1"),
    ]
    plan = await _decide("Where is my parcel?", history)
    assert (plan.action, plan.reason_category) == ("offer_handoff", "loop")
    plan = await _decide("Where is my parcel?", history, offered=True)
    assert (plan.action, plan.reason_category) == ("handoff", "loop")
    plan = await _decide("yes", history, offered=True)
    assert (plan.action, plan.reason_category) == ("handoff", "customer_request")


async def test_low_support_clarifies_once_then_hands_off():
    async def weak(_q: str) -> list[Hit]:
        return [Hit(PASSAGE, 0.01, 0.35, 0.0, None, 0)]

    settings = merge({"enabled": True}, None)
    first = await decide(
        Situation(settings, "m1", "bikes?", []), weak, LocalProvider(embed), embed, sentiment
    )
    assert first.action == "clarify" and '"Delivery"' in first.reply
    second = await decide(
        Situation(settings, "m2", "e-bikes", [], clarify_count=1),
        weak,
        LocalProvider(embed),
        embed,
        sentiment,
    )
    assert (second.action, second.reason_category) == ("handoff", "missing_knowledge")


async def test_one_workspace_level_settings_row(runtime, make_workspace):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from relaydesk.models import AiSettings

    ws = await make_workspace()
    async with runtime.db.write() as session:
        session.add(AiSettings(workspace_id=ws.id, inbox_id=None, config={}, probe={}))
    with pytest.raises(IntegrityError):
        async with runtime.db.write() as session:
            session.add(AiSettings(workspace_id=ws.id, inbox_id=None, config={}, probe={}))


async def test_small_talk_is_answered_without_using_the_clarification():
    plan = await _decide("hi there", intent=Intent("greeting", 0.95, False))
    assert plan.action == "smalltalk" and plan.reply.startswith("Hello")
    plan = await _decide("hi there", intent=Intent("greeting", 0.95, True))
    assert plan.action != "smalltalk"
