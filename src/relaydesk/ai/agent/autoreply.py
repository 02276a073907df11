"""Decide what the automated agent does with one customer message.

`decide` is pure with respect to the database: it gets the conversation as loaded by the job, a
retrieval function and a provider, and returns a `Plan` that `actions.ai.apply_plan` carries out with
the normal actions. The order of the checks is the policy: a person's or an objector's request first
(always honoured, no model needed), then contest, policy rules, frustration and loops, and only then an
answer — given only when retrieval supports it, quoting its source.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relaydesk.ai.agent import policy
from relaydesk.ai.agent.redaction import Redactor, bound_context
from relaydesk.ai.agent.settings import Effective
from relaydesk.ai.agent.understanding import Intent
from relaydesk.ai.knowledge.retrieval import Hit
from relaydesk.ai.providers.base import ChatMessage, GroundedAnswer, Provider, ProviderError
from relaydesk.ai.sentiment import is_frustrated, trend

HUMAN_INTENTS = ("talk_to_human", "contact_human_agent", "human", "speak_to_agent")

HANDOFF_REPLY = (
    "I'm passing this conversation to a member of our team. They will reply here as soon as they can."
)
OFFER_REPLY = (
    "I'm sorry this hasn't been sorted out yet. Would you like me to connect you with a member of our team? "
    'Just reply "yes".'
)
SMALL_TALK = {
    "greeting": "Hello! How can I help you today?",
    "thanks": "You're welcome! Is there anything else I can help you with?",
    "goodbye": "Thank you for getting in touch. Goodbye!",
}
CLARIFY_GENERIC = (
    "I want to make sure I get this right. Could you tell me a bit more about what you need, for example "
    "the product or order it is about?"
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # customer | agent | ai
    text: str
    message_id: str


@dataclass
class Situation:
    settings: Effective
    message_id: str
    text: str
    history: Sequence[Turn]  # earlier turns, oldest first, without the current message
    clarify_count: int = 0
    offered: bool = False
    last_ai_action: str | None = None
    contact_name: str | None = None
    intent: Intent | None = None


@dataclass
class Plan:
    action: str  # answer | clarify | offer_handoff | handoff | smalltalk
    reply: str | None
    reason_category: str | None = None
    detail: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    switch_off: str | None = None  # conversation | contact
    contest_last: bool = False
    provider: str = "local"
    # Classification from the detected intent: {"intent", "label_id", "priority"} (actions.ai applies it).
    classification: dict[str, Any] | None = None


Retrieve = Callable[[str], Awaitable[list[Hit]]]
Embed = Callable[[Sequence[str]], np.ndarray]


def _hit_inputs(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    return [
        {"chunk_id": h.passage.chunk_id, "cosine": h.cosine, "bm25": h.bm25, "fused": h.fused} for h in hits
    ]


def _cite(answer: GroundedAnswer) -> str:
    source = answer.cited[0]
    link = f"{source.title} — {source.url}" if source.url else source.title
    return f"{answer.text}\n\nSource: {link}"


def _sources(answer: GroundedAnswer) -> list[dict[str, Any]]:
    return [
        {
            "article_id": p.article_id,
            "chunk_id": p.chunk_id,
            "title": p.title,
            "url": p.url,
            "score": round(p.score, 4),
        }
        for p in answer.cited
    ]


def _handoff(category: str, detail: str, inputs: dict[str, Any], **kw: Any) -> Plan:
    return Plan("handoff", HANDOFF_REPLY, category, detail, inputs=inputs, **kw)


def _escalate(situation: Situation, category: str, detail: str, inputs: dict[str, Any]) -> Plan:
    """Offer a person once; if the offer was already made, hand off."""
    if situation.offered:
        return _handoff(category, detail, inputs)
    return Plan("offer_handoff", OFFER_REPLY, category, detail, inputs=inputs)


def _confident(intent: Intent | None, min_confidence: float) -> bool:
    return intent is not None and intent.confidence >= min_confidence and not intent.out_of_scope


def classification(intent: Intent | None, settings: Effective) -> dict[str, Any] | None:
    """The label and priority the workspace mapped to the detected intent, when it is detected with
    confidence (the same bar as every other intent-driven step) and `auto_classify` is on. The one rule
    for both the agent's turn and triage (actions.ai.apply_triage)."""
    if not settings["auto_classify"]:
        return None
    if intent is None or not (intent.label_id or intent.priority):
        return None
    if not _confident(intent, settings["intent_min_confidence"]):
        return None
    return {"intent": intent.name, "label_id": intent.label_id, "priority": intent.priority}


async def decide(
    situation: Situation,
    retrieve: Retrieve,
    provider: Provider,
    embed: Embed,
    sentiment: Callable[[str], float],
    fallback: Provider | None = None,
) -> Plan:
    """The plan for this message (see the module docstring), with the intent's classification attached."""
    plan = await _decide(situation, retrieve, provider, embed, sentiment, fallback)
    plan.classification = classification(situation.intent, situation.settings)
    if plan.classification is not None:
        plan.inputs["classification"] = dict(plan.classification)
    return plan


async def _decide(
    situation: Situation,
    retrieve: Retrieve,
    provider: Provider,
    embed: Embed,
    sentiment: Callable[[str], float],
    fallback: Provider | None,
) -> Plan:
    s = situation.settings
    text = situation.text
    customer_turns = [t.text for t in situation.history if t.role == "customer"]
    scores = [sentiment(t) for t in [*customer_turns[-4:], text]]
    inputs: dict[str, Any] = {
        "message_id": situation.message_id,
        "sentiment": round(scores[-1], 4),
        "sentiment_trend": trend(scores),
    }
    intent = situation.intent
    if intent is not None:
        inputs["intent"] = intent.name
        inputs["intent_confidence"] = round(intent.confidence, 4)
        inputs["out_of_scope"] = intent.out_of_scope
        if intent.model_version is not None:
            inputs["intent_model_version"] = intent.model_version

    # 1. A customer who objects to automated handling, or asks for a person, gets one. Always.
    if policy.objects_to_automation(text):
        return _handoff("customer_request", "objected to automated handling", inputs, switch_off="contact")
    wants_human_intent = (
        intent is not None
        and intent.name in HUMAN_INTENTS
        and intent.confidence >= s["intent_min_confidence"]
        and not intent.out_of_scope
    )
    if policy.asks_for_human(text) or wants_human_intent:
        return _handoff("customer_request", "asked for a person", inputs, switch_off="conversation")
    if situation.offered and policy.affirms(text):
        return _handoff(
            "customer_request", "accepted the offer of a person", inputs, switch_off="conversation"
        )
    # 2. The customer says the automated answer was wrong: contest it, and a person reviews.
    if situation.last_ai_action == "answer" and policy.contests(text):
        return _handoff(
            "contested",
            "contested the automated answer",
            inputs,
            contest_last=True,
            switch_off="conversation",
        )
    # 3. Policy rules hand off at once.
    rule = policy.policy_rule(text, s["handoff_keywords"])
    if rule is not None:
        inputs["rule"] = rule
        return _handoff("policy_restriction", f"policy rule {rule}", inputs)
    # An intent the workspace marked `handoff` is a policy rule too.
    if intent is not None and intent.handoff and _confident(intent, s["intent_min_confidence"]):
        inputs["rule"] = f"intent:{intent.name}"
        return _handoff("policy_restriction", f"intent {intent.name} hands off", inputs)
    # Small talk is answered politely and does not use up the one clarifying question.
    if (
        intent is not None
        and intent.name in SMALL_TALK
        and intent.confidence >= s["intent_min_confidence"]
        and not intent.out_of_scope
        and len(text) <= 60
    ):
        return Plan("smalltalk", SMALL_TALK[intent.name], None, intent.name, inputs=inputs)
    # 4. Frustration and loops: offer a person once, then hand off.
    if is_frustrated(scores):
        return _escalate(situation, "negative_sentiment", "negative sentiment", inputs)
    if len(customer_turns) >= 2:
        vectors = embed([text, *customer_turns[-2:]])
        sims = [round(float(vectors[0] @ vectors[i]), 4) for i in (2, 1)]
        inputs["repeat_similarity"] = sims
        if policy.is_loop(sims):
            return _escalate(situation, "loop", "the conversation is going round in circles", inputs)

    # 5. Answer only when retrieval supports it.
    query = text
    if situation.last_ai_action == "clarify" and customer_turns:
        query = f"{customer_turns[-1]}\n{text}"  # the clarification completes the earlier question
    hits = await retrieve(query)
    inputs["retrieval"] = _hit_inputs(hits)
    top = hits[0].cosine if hits else 0.0
    inputs["top_similarity"] = top
    supported = [h for h in hits if h.cosine >= s["clarify_min_similarity"]]
    if hits and top >= s["answer_min_similarity"]:
        redact = Redactor.for_contact(
            situation.contact_name, enabled=s["redaction"], redact_name=s["redact_contact_name"]
        )
        turns = [("user" if t.role == "customer" else "assistant", t.text) for t in situation.history]
        bounded = bound_context(turns, s["context_messages"], s["context_max_chars"])
        context = [ChatMessage(role, redact(body)) for role, body in bounded]
        passages = [h.passage for h in supported[:3]]
        used = provider
        try:
            answer = await provider.answer(redact(query), passages, context)
        except ProviderError as exc:
            inputs["provider_error"] = str(exc)[:300]
            if fallback is None:
                return _handoff("tool_failure", "the AI provider failed", inputs)
            used = fallback
            answer = await fallback.answer(query, passages, ())
        inputs["provider"] = used.name
        if answer.text:
            return Plan("answer", _cite(answer), None, None, _sources(answer), inputs, provider=used.name)
        inputs["no_answer_sentinel"] = True
    # 6. Not supported: clarify once, then hand off.
    if situation.clarify_count < 1:
        reply = CLARIFY_GENERIC
        if supported:
            reply = f'Just to check: is your question about "{supported[0].passage.title}"? {CLARIFY_GENERIC}'
        return Plan("clarify", reply, None, "low retrieval support", inputs=inputs)
    return _handoff("missing_knowledge", "no supported answer after a clarifying question", inputs)
