"""Both providers behind one interface; the OpenAI-compatible one against a fake endpoint on loopback."""

from __future__ import annotations

import json

import pytest

from relaydesk.ai.agent.understanding import embed
from relaydesk.ai.providers import ChatMessage, Passage, ProviderError, ToolSpec
from relaydesk.ai.providers.local import LocalProvider
from relaydesk.ai.providers.openai_compat import OpenAICompatibleProvider, OpenAIConfig
from relaydesk.outbound.ssrf import guarded_client
from tests.ai_platform.fake_openai import text_reply

ORDER_TOOL = ToolSpec(
    "order_lookup",
    "Look up an order by its number.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
PASSAGES = [
    Passage(
        "c1",
        "a1",
        "Delivery times",
        "Standard delivery takes 3 to 5 working days.",
        "https://x.test/d",
        "faq",
        0.8,
    ),
    Passage("c2", "a2", "Returns", "Returns are free within 30 days.", None, "faq", 0.6),
]


def _provider(fake, **kw) -> OpenAICompatibleProvider:  # type: ignore[no-untyped-def]
    cfg = {
        "base_url": fake.base_url,
        "model": fake.model,
        "api_key": fake.api_key,
        "backoff_seconds": 0.01,
        **kw,
    }
    # The fake listens on loopback, a private target the operator allows for `ai` here.
    return OpenAICompatibleProvider(OpenAIConfig(**cfg), guarded_client(timeout=5, allow_private=True))


async def test_chat_completion_sends_the_wire_format_and_reads_the_reply(fake_openai):
    fake_openai.reply = text_reply("It ships today.")
    provider = _provider(fake_openai)
    try:
        done = await provider.complete(
            [ChatMessage("system", "Be brief."), ChatMessage("user", "Where is it?")]
        )
    finally:
        await provider.http.aclose()
    assert done.content == "It ships today." and done.finish_reason == "stop" and done.model == "fake-gpt"
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["authorization"] == "Bearer sk-test-key"
    assert sent["body"]["model"] == "fake-gpt"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is it?"},
    ]


async def test_tool_calls_come_back_whole_and_streamed_in_fragments(fake_openai):
    args = json.dumps({"order_id": "A-1042"})
    fake_openai.reply = lambda _b: {
        "content": None,
        "tool_calls": [{"name": "order_lookup", "arguments": args}],
    }
    provider = _provider(fake_openai)
    try:
        whole = await provider.complete([ChatMessage("user", "Where is order A-1042?")], tools=[ORDER_TOOL])
        streamed = await provider.complete_streamed(
            [ChatMessage("user", "Where is order A-1042?")], tools=[ORDER_TOOL]
        )
    finally:
        await provider.http.aclose()
    for done in (whole, streamed):
        assert [(c.name, json.loads(c.arguments)) for c in done.tool_calls] == [
            ("order_lookup", {"order_id": "A-1042"})
        ]
        assert done.finish_reason == "tool_calls"
    assert fake_openai.requests[0]["body"]["tools"][0]["function"]["name"] == "order_lookup"
    assert fake_openai.requests[0]["body"]["tool_choice"] == "auto"
    assert fake_openai.requests[1]["body"]["stream"] is True


async def test_streaming_yields_text_as_it_arrives(fake_openai):
    fake_openai.reply = text_reply("Standard delivery takes 3 to 5 days.")
    provider = _provider(fake_openai)
    try:
        pieces = [p async for p in provider.stream([ChatMessage("user", "How long?")])]
    finally:
        await provider.http.aclose()
    assert len(pieces) > 3
    assert "".join(pieces) == "Standard delivery takes 3 to 5 days."


async def test_retries_with_backoff_on_503_and_429_then_succeeds(fake_openai):
    fake_openai.fail_statuses = [503, 429]
    fake_openai.reply = text_reply("ok")
    provider = _provider(fake_openai, max_retries=2)
    try:
        done = await provider.complete([ChatMessage("user", "hi")])
    finally:
        await provider.http.aclose()
    assert done.content == "ok"
    assert len(fake_openai.requests) == 3


async def test_gives_up_after_retries_and_never_retries_a_client_error(fake_openai):
    fake_openai.fail_statuses = [503, 503, 503, 503]
    provider = _provider(fake_openai, max_retries=1)
    try:
        with pytest.raises(ProviderError, match="gave up after 2 attempts"):
            await provider.complete([ChatMessage("user", "hi")])
        assert len(fake_openai.requests) == 2
        fake_openai.requests.clear()
        fake_openai.fail_statuses = [400]
        with pytest.raises(ProviderError, match="HTTP 400"):
            await provider.complete([ChatMessage("user", "hi")])
        assert len(fake_openai.requests) == 1
    finally:
        await provider.http.aclose()


async def test_timeout_is_retried_then_reported(fake_openai):
    fake_openai.stall_seconds, fake_openai.stall_calls = 1.0, 5
    provider = _provider(fake_openai, timeout_seconds=0.2, max_retries=1)
    try:
        with pytest.raises(ProviderError, match="Timeout"):
            await provider.complete([ChatMessage("user", "hi")])
    finally:
        await provider.http.aclose()
    assert len(fake_openai.requests) == 2


async def test_probe_reports_models_and_tool_calling(fake_openai):
    provider = _provider(fake_openai)
    try:
        result = await provider.probe()
        fake_openai.supports_tools = False
        without = await provider.probe()
        bad_key = await _provider(fake_openai, api_key="wrong").probe()
    finally:
        await provider.http.aclose()
    assert (
        result["ok"]
        and result["models"] == ["fake-gpt"]
        and result["model_listed"]
        and result["tool_calling"]
    )
    assert without["ok"] and without["tool_calling"] is False
    assert bad_key["ok"] is False and "401" in bad_key["error"]


async def test_grounded_answer_cites_passages_and_honours_the_no_answer_sentinel(fake_openai):
    provider = _provider(fake_openai)
    try:
        fake_openai.reply = text_reply("Standard delivery takes 3 to 5 working days [1].")
        answer = await provider.answer("How long is delivery?", PASSAGES, [])
        fake_openai.reply = text_reply("<NOANS>")
        none = await provider.answer("Do you sell bicycles?", PASSAGES, [])
    finally:
        await provider.http.aclose()
    assert answer.text == "Standard delivery takes 3 to 5 working days." and answer.cited == (PASSAGES[0],)
    prompt = fake_openai.requests[0]["body"]["messages"][0]["content"]
    assert "[1] Delivery times" in prompt and "<NOANS>" in prompt
    assert none.text is None and none.details["sentinel"]


async def test_local_provider_answers_extractively_and_has_no_generator():
    provider = LocalProvider(embed)
    faq = await provider.answer("how long does shipping take", PASSAGES)
    assert faq.text == PASSAGES[0].text and faq.cited == (PASSAGES[0],)
    long_text = (
        "Our shop opened in 1999. We sell handmade shoes. Standard delivery takes 3 to 5 working days. "
        "Our founder likes cats. The office is closed on Sundays. Gift wrapping costs 2 euros."
    )
    article = Passage("c3", "a3", "About us", long_text, None, "article", 0.7)
    answer = await provider.answer("How many days does delivery take?", [article])
    assert "3 to 5 working days" in answer.text and len(answer.text) < len(long_text)
    assert (await provider.answer("anything", [])).text is None
    with pytest.raises(ProviderError):
        await provider.complete([ChatMessage("user", "hi")])
    assert (await provider.probe())["tool_calling"] is False
