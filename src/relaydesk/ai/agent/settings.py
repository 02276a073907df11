"""AI settings: defaults, validation, and the merge of workspace and inbox levels.

Each level stores only the keys it sets, so changing a workspace default reaches every inbox that did
not override it. Unknown keys and wrong types are refused (400) instead of silently ignored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from relaydesk.errors import InvalidInput

PROVIDERS = ("local", "openai")

DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "provider": "local",
    "auto_reply": True,
    # Triage: detect each customer message's intent and apply the label and priority the workspace mapped
    # to it, also where people answer (auto_reply off) and after a handoff (docs/ai.md "Triage").
    "auto_classify": True,
    # Cosine similarity of the best passage: at or above `answer_min_similarity` the agent answers; between
    # the two it asks one clarifying question; below both it hands off after one clarification.
    "answer_min_similarity": 0.5,
    "clarify_min_similarity": 0.3,
    "intent_min_confidence": 0.5,
    "redaction": True,
    "redact_contact_name": True,
    "context_messages": 6,
    "context_max_chars": 2000,
    "handoff_team_id": None,
    "handoff_keywords": [],
    "openai_base_url": None,
    "openai_model": None,
    "openai_timeout_seconds": 20.0,
    "openai_max_retries": 2,
}

_TYPES: dict[str, tuple[type, ...]] = {
    "enabled": (bool,),
    "provider": (str,),
    "auto_reply": (bool,),
    "auto_classify": (bool,),
    "answer_min_similarity": (int, float),
    "clarify_min_similarity": (int, float),
    "intent_min_confidence": (int, float),
    "redaction": (bool,),
    "redact_contact_name": (bool,),
    "context_messages": (int,),
    "context_max_chars": (int,),
    "handoff_team_id": (str, type(None)),
    "handoff_keywords": (list,),
    "openai_base_url": (str, type(None)),
    "openai_model": (str, type(None)),
    "openai_timeout_seconds": (int, float),
    "openai_max_retries": (int,),
}


def validate(patch: dict[str, Any]) -> dict[str, Any]:
    """Check a settings patch key by key; returns it normalised. `None` for a key means "inherit"."""
    problems: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if key not in _TYPES:
            problems[key] = "unknown setting"
            continue
        if value is None and key not in ("handoff_team_id", "openai_base_url", "openai_model"):
            out[key] = None
            continue
        if not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and bool not in _TYPES[key]):
            problems[key] = f"must be {' or '.join(t.__name__ for t in _TYPES[key])}"
            continue
        if key == "provider" and value not in PROVIDERS:
            problems[key] = f"must be one of {', '.join(PROVIDERS)}"
        elif key.endswith(("_similarity", "_confidence")) and not 0 <= value <= 1:
            problems[key] = "must be between 0 and 1"
        elif key == "context_messages" and not 1 <= value <= 50:
            problems[key] = "must be between 1 and 50"
        elif key == "context_max_chars" and not 200 <= value <= 20_000:
            problems[key] = "must be between 200 and 20000"
        elif key == "openai_timeout_seconds" and not 1 <= value <= 120:
            problems[key] = "must be between 1 and 120"
        elif key == "openai_max_retries" and not 0 <= value <= 5:
            problems[key] = "must be between 0 and 5"
        elif key == "openai_base_url" and value:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems[key] = "must be an http(s) URL"
        elif key == "handoff_team_id" and value:
            try:
                value = str(uuid.UUID(value))
            except ValueError:
                problems[key] = "must be a team id"
        elif key == "handoff_keywords":
            if not all(isinstance(k, str) and 0 < len(k.strip()) <= 80 for k in value) or len(value) > 100:
                problems[key] = "must be up to 100 non-empty phrases of at most 80 characters"
            else:
                value = [k.strip().lower() for k in value]
        out[key] = value
    if problems:
        raise InvalidInput("invalid AI settings", details=problems)
    return out


@dataclass(frozen=True)
class Effective:
    """The settings that apply to one inbox, with where each came from kept out of the hot path."""

    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def merge(workspace: dict[str, Any] | None, inbox: dict[str, Any] | None) -> Effective:
    values = dict(DEFAULTS)
    for level in (workspace or {}, inbox or {}):
        for key, value in level.items():
            if key in DEFAULTS and value is not None:
                values[key] = value
    if values["clarify_min_similarity"] > values["answer_min_similarity"]:
        values["clarify_min_similarity"] = values["answer_min_similarity"]
    return Effective(values)


def runs_on_messages(values: dict[str, Any] | Effective) -> bool:
    """Whether a customer message in an inbox with these settings needs the `ai.on_message` job at all:
    the AI is on and either replies or classifies."""
    return bool(values["enabled"] and (values["auto_reply"] or values["auto_classify"]))


def check_provider_ready(values: dict[str, Any], has_key: bool) -> None:
    """An openai provider needs a base URL and a model before it can be switched on."""
    if values.get("provider") == "openai" and (
        not values.get("openai_base_url") or not values.get("openai_model")
    ):
        raise InvalidInput("the openai provider needs openai_base_url and openai_model")
