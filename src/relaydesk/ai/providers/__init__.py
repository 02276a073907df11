"""AI providers behind one interface: `local` (offline, default) and `openai` (any compatible endpoint)."""

from relaydesk.ai.providers.base import (
    NO_ANSWER,
    ChatMessage,
    Completion,
    GroundedAnswer,
    Passage,
    Provider,
    ProviderError,
    ToolCall,
    ToolSpec,
)

__all__ = [
    "NO_ANSWER",
    "ChatMessage",
    "Completion",
    "GroundedAnswer",
    "Passage",
    "Provider",
    "ProviderError",
    "ToolCall",
    "ToolSpec",
]
