"""The website chat widget's spec: a channel whose customers are visitors of the inbox's website.

Nothing calls it by webhook: visitors reach Relaydesk through the widget's own doors (`routes`: the loader
script, the chat frame, the visitor API and WebSocket; routes/api.py says which), and their messages take
the normal path of customer messages (`actions.incoming`). Replies need no provider either: an agent's
message is in the visitor's stream the moment it is committed (its `message.created` event, which the
visitor's socket follows, or their next history read), so `send` only confirms it; the frame's socket
shows it live.

Credentials (generated, rotatable, revealable by an owner): `identity_secret`, which the inbox's website
signs its logged-in users' ids with (docs/widget.md), and `visitor_token_secret`, which signs visitor
tokens (rotating it ends every visitor session). Settings: where the widget may appear, whether
identities must be signed, and what the chat shows (title, pre-chat form, consent, age question) and how
it looks and speaks (colours, greeting, launcher position, language and texts: appearance.py,
strings.py); config.py reads them with their defaults.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from relaydesk.channels.spec import ChannelSpec, FieldError, FieldSpec, OutboundMessage, SendResult
from relaydesk.channels.widget import appearance, config, strings
from relaydesk.channels.widget.identity import normalise_origin


def _secret() -> str:
    return secrets.token_hex(32)


class WidgetChannel(ChannelSpec):
    name = "widget"
    label = "Website chat widget"
    credentials = (
        FieldSpec(
            "identity_secret",
            "Identity verification secret",
            kind="secret",
            required=True,
            generated=_secret,
            help="Your server signs a logged-in user's id with it (HMAC-SHA256 hex, or an HS256 JWT).",
        ),
        FieldSpec(
            "visitor_token_secret",
            "Visitor token secret",
            kind="secret",
            required=True,
            generated=_secret,
            help="Signs visitors' session tokens; rotating it ends every visitor's session.",
        ),
    )
    settings = (
        FieldSpec(
            "allowed_origins",
            "Allowed website origins",
            kind="lines",
            default=[],
            max_length=200,
            help="One origin per line, e.g. https://shop.example. The chat opens only on these sites.",
        ),
        FieldSpec(
            "identity_verification",
            "Identity verification",
            kind="choice",
            choices=("optional", "enforced"),
            default="optional",
            help="enforced: a user id without a valid signature is refused (visitors may still chat "
            "anonymously).",
        ),
        FieldSpec("title", "Chat title", default=config.DEFAULT_TITLE, max_length=80),
        FieldSpec(
            "accent_color", "Accent colour", default=config.DEFAULT_ACCENT, max_length=7, help="#rrggbb"
        ),
        FieldSpec(
            "prechat_fields",
            "Pre-chat form fields",
            kind="lines",
            default=list(config.DEFAULT_PRECHAT_FIELDS),
            max_length=120,
            help="One per line: key:Label or key:Label:required. name and email fill the contact; other "
            "keys become contact attributes.",
        ),
        FieldSpec(
            "consent_text",
            "Consent text",
            default=config.DEFAULT_CONSENT_TEXT,
            max_length=1000,
            help="The visitor must accept it to start a conversation; it is recorded with the conversation.",
        ),
        FieldSpec(
            "consent_version",
            "Consent version",
            default=config.DEFAULT_CONSENT_VERSION,
            max_length=40,
            help="Change it when you change the text: visitors then accept the new one.",
        ),
        FieldSpec(
            "age_confirmation",
            "Ask visitors to confirm they are adults",
            kind="bool",
            default=True,
        ),
        # How the chat looks and speaks (appearance.py, strings.py); the admin previews them live.
        FieldSpec(
            "accent_text_color",
            "Text colour on the accent",
            default=appearance.DEFAULT_ACCENT_TEXT,
            max_length=7,
            help="#rrggbb; a contrast below 4.5:1 with the accent colour is warned about.",
        ),
        FieldSpec(
            "greeting",
            "Greeting",
            max_length=300,
            help="Shown at the top of the chat; empty: the greeting of the visitor's language.",
        ),
        FieldSpec(
            "position", "Launcher position", kind="choice", choices=appearance.POSITIONS, default="right"
        ),
        FieldSpec(
            "locale",
            "Language",
            default="auto",
            max_length=12,
            help="auto: the visitor's browser language among those known (en, de, fr and any you add "
            "texts for); or a language tag such as de.",
        ),
        FieldSpec(
            "email_fallback_inbox",
            "E-mail inbox for visitors who left",
            max_length=36,
            help="The id of an e-mail inbox of this workspace. When a visitor has left the chat and gave "
            "an e-mail address, replies are sent from that inbox, and their e-mailed answer comes back "
            "into the chat. Empty: replies wait in the chat.",
        ),
        FieldSpec(
            "strings",
            "Texts",
            kind="lines",
            default=[],
            max_length=600,
            help="Replace any text of the chat, one per line: key=text for every language, or "
            "locale:key=text (e.g. de:send=Abschicken). Keys: " + ", ".join(strings.STRINGS) + ".",
        ),
    )
    fake = "relaydesk.channels.widget.fake:HostSite"
    routes = "relaydesk.channels.widget.routes:ROUTES"
    preview = "/widget-preview/{inbox_id}"

    def validate_settings(
        self, values: Mapping[str, Any], current: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The shared field checks, then the widget's own: real origins, a colour, a parsable form."""
        checked = super().validate_settings(values, current)
        origins = []
        for origin in checked.get("allowed_origins") or []:
            normal = normalise_origin(origin)
            parts = urlsplit(origin)
            if normal is None or parts.path not in ("", "/") or parts.query or parts.fragment:
                raise FieldError(
                    "settings.allowed_origins", f"{origin[:80]!r} is not an origin like https://shop.example"
                )
            origins.append(normal)
        if "allowed_origins" in checked:
            checked["allowed_origins"] = origins
        for key in ("accent_color", "accent_text_color"):
            if checked.get(key) is not None:
                try:
                    checked[key] = appearance.check_colour(checked[key])
                except ValueError as exc:
                    raise FieldError(f"settings.{key}", f"{exc}") from None
        try:
            strings.parse_overrides(checked.get("strings") or [])
        except ValueError as exc:
            raise FieldError("settings.strings", str(exc)) from None
        locale = checked.get("locale")
        if locale is not None and not strings.valid_locale_setting(locale):
            raise FieldError("settings.locale", "must be auto or a language tag such as de or pt-br")
        try:
            config.parse_prechat_fields(checked.get("prechat_fields") or [])
        except ValueError as exc:
            raise FieldError("settings.prechat_fields", str(exc)) from None
        return checked

    def embed_code(self, base_url: str, public_id: str) -> str | None:
        return f'<script src="{base_url}/widget/{public_id}/loader.js" async></script>'

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> SendResult:
        """The reply is in the visitor's stream since its commit (module docstring): nothing to call."""
        return SendResult(provider_message_id=None, status="sent")


SPEC = WidgetChannel()
