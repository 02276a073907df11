"""Build the provider an inbox's effective settings ask for."""

from __future__ import annotations

from typing import Any

import httpx

from relaydesk.ai.providers.base import Provider
from relaydesk.ai.providers.local import Embed, LocalProvider
from relaydesk.ai.providers.openai_compat import OpenAICompatibleProvider, OpenAIConfig


def build_provider(
    values: dict[str, Any], api_key: str | None, embed: Embed, http: httpx.AsyncClient
) -> Provider:
    """`local` unless `openai` is chosen and configured. `http` is the runtime's guarded client for the
    `ai` purpose: the endpoint an admin types in reaches public addresses, private ones (a model server on
    localhost, such as Ollama) only where the operator allows them with
    `RELAYDESK_ALLOW_PRIVATE_TARGETS=ai`, and link-local/metadata addresses never."""
    if values.get("provider") == "openai" and values.get("openai_base_url") and values.get("openai_model"):
        return OpenAICompatibleProvider(
            OpenAIConfig(
                base_url=values["openai_base_url"],
                model=values["openai_model"],
                api_key=api_key,
                timeout_seconds=float(values.get("openai_timeout_seconds") or 20.0),
                max_retries=int(
                    values.get("openai_max_retries") if values.get("openai_max_retries") is not None else 2
                ),
            ),
            http,
        )
    return LocalProvider(embed)
