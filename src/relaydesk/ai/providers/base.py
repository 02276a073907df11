"""The provider interface the agent codes against, and the plain data it passes around.

Two calls matter to the agent: `answer` (a grounded answer from retrieved passages, or the no-answer
sentinel) and `complete` (a chat completion that may call tools — the seam the order tools will use).
Providers never touch the database: the agent gives them passages and already-redacted text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: What a grounded answer must say when the passages do not answer the question (Tiledesk's <NOANS>).
NO_ANSWER = "<NOANS>"


class ProviderError(RuntimeError):
    """The provider could not produce an answer (endpoint down, timed out, malformed reply)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved knowledge passage: enough to answer from and to cite."""

    chunk_id: str
    article_id: str
    title: str
    text: str
    url: str | None
    kind: str
    score: float


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def wire(self) -> dict[str, Any]:
        """The OpenAI chat-completions shape of this message."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.wire() for c in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it; the caller validates before acting

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class GroundedAnswer:
    """An answer built only from `cited` passages; `text is None` means the provider found no answer."""

    text: str | None
    cited: tuple[Passage, ...] = ()
    provider: str = "local"
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    name: str

    async def answer(
        self, question: str, passages: Sequence[Passage], context: Sequence[ChatMessage]
    ) -> GroundedAnswer:
        """Answer `question` from `passages` only, or return a GroundedAnswer with text None."""
        ...

    async def complete(
        self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec] = (), temperature: float = 0.0
    ) -> Completion:
        """A chat completion; `tools` are offered for tool calling (orders, later)."""
        ...

    def stream(self, messages: Sequence[ChatMessage], *, temperature: float = 0.0) -> AsyncIterator[str]:
        """The completion's text as it is generated."""
        ...

    async def probe(self) -> dict[str, Any]:
        """What this provider supports (models, tool calling, streaming); never raises."""
        ...
