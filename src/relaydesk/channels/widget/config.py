"""A widget inbox's settings as the routes and the chat frame read them, with their defaults.

The settings themselves are declared once, as fields of the channel's spec (spec.py), which the admin
form and the inbox API are generated from; this module only reads a stored settings document, so a
setting added later (colours, greeting, strings, business hours) is one field there and one attribute
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from relaydesk.channels.widget import appearance, strings

DEFAULT_TITLE = "Chat with us"
DEFAULT_ACCENT = "#2563eb"
DEFAULT_CONSENT_TEXT = (
    "I agree that this conversation and the details I give are stored to answer me, as the privacy "
    "policy explains."
)
DEFAULT_CONSENT_VERSION = "1"
DEFAULT_PRECHAT_FIELDS = ("name:Your name", "email:Your e-mail")
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class PrechatField:
    """One field of the pre-chat form: `name` and `email` fill the contact's own fields; any other key is
    a custom attribute of the contact (sealed like every contact attribute)."""

    key: str
    label: str
    required: bool = False

    @property
    def kind(self) -> str:
        return "email" if self.key == "email" else "text"

    def json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "required": self.required, "kind": self.kind}


def parse_prechat_fields(lines: list[str]) -> list[PrechatField]:
    """`key:Label` or `key:Label:required`, one per line (invalid lines are refused by the spec's check)."""
    fields = []
    for line in lines:
        parts = [p.strip() for p in line.split(":")]
        if len(parts) < 2 or not FIELD_KEY.fullmatch(parts[0]) or not parts[1]:
            raise ValueError(f"pre-chat field {line[:60]!r}: write key:Label or key:Label:required")
        fields.append(PrechatField(parts[0], parts[1][:80], len(parts) > 2 and parts[2] == "required"))
    return fields


@dataclass(frozen=True)
class WidgetConfig:
    allowed_origins: list[str] = field(default_factory=list)
    identity_verification: str = "optional"  # or "enforced"
    title: str = DEFAULT_TITLE
    accent_color: str = DEFAULT_ACCENT
    prechat_fields: list[PrechatField] = field(default_factory=list)
    consent_text: str = DEFAULT_CONSENT_TEXT
    consent_version: str = DEFAULT_CONSENT_VERSION
    age_confirmation: bool = True
    accent_text_color: str = appearance.DEFAULT_ACCENT_TEXT
    greeting: str = ""
    position: str = "right"
    locale: str = "auto"
    strings: dict[str, dict[str, str]] = field(default_factory=dict)

    def texts(self, accept_language: str = "") -> tuple[str, dict[str, str]]:
        """The locale the visitor gets (by their browser's `Accept-Language` when the setting is `auto`)
        and every text of the chat in it (strings.py)."""
        locale = strings.pick_locale(self.locale, accept_language, self.strings)
        return locale, strings.resolve(locale, self.strings, self.greeting)

    @property
    def enforce_identity(self) -> bool:
        return self.identity_verification == "enforced"

    def public(self) -> dict[str, Any]:
        """What the chat frame is told (no secret, no origin list)."""
        return {
            "title": self.title,
            "accent_color": self.accent_color,
            "prechat_fields": [f.json() for f in self.prechat_fields],
            "consent_text": self.consent_text,
            "consent_version": self.consent_version,
            "age_confirmation": self.age_confirmation,
            "identity_verification": self.identity_verification,
            "accent_text_color": self.accent_text_color,
            "position": self.position,
        }


def widget_config(settings: dict[str, Any] | None) -> WidgetConfig:
    s = settings or {}
    accent = str(s.get("accent_color") or DEFAULT_ACCENT)
    try:
        fields = parse_prechat_fields(list(s.get("prechat_fields", DEFAULT_PRECHAT_FIELDS)))
    except ValueError:
        fields = parse_prechat_fields(list(DEFAULT_PRECHAT_FIELDS))
    return WidgetConfig(
        allowed_origins=[str(o) for o in s.get("allowed_origins") or []],
        identity_verification="enforced" if s.get("identity_verification") == "enforced" else "optional",
        title=str(s.get("title") or DEFAULT_TITLE),
        accent_color=accent if HEX_COLOUR.fullmatch(accent) else DEFAULT_ACCENT,
        prechat_fields=fields,
        consent_text=str(s.get("consent_text") or DEFAULT_CONSENT_TEXT),
        consent_version=str(s.get("consent_version") or DEFAULT_CONSENT_VERSION),
        age_confirmation=bool(s.get("age_confirmation", True)),
        accent_text_color=_colour(s.get("accent_text_color"), appearance.DEFAULT_ACCENT_TEXT),
        greeting=str(s.get("greeting") or ""),
        position=s.get("position") if s.get("position") in appearance.POSITIONS else "right",
        locale=str(s.get("locale") or "auto"),
        strings=_overrides(s.get("strings")),
    )


def _colour(value: Any, default: str) -> str:
    try:
        return appearance.check_colour(str(value)) if value else default
    except ValueError:
        return default


def _overrides(lines: Any) -> dict[str, dict[str, str]]:
    """Stored overrides were checked by the spec; a document that no longer parses counts as none."""
    try:
        return strings.parse_overrides([str(line) for line in lines or []])
    except ValueError:
        return {}
