"""Every text the chat widget shows a visitor, in one table: `STRINGS[key][locale]`, English for every key.

An inbox can override any of them per locale (`strings` setting, one `locale:key=text` per line, or
`key=text` for every locale) and choose the locale (`locale`: `auto` follows the visitor's browser among
the locales this table or the overrides know). `resolve` gives the frame one flat `key -> text` map, so
the frame's script never carries a text of its own. `{name}` and `{when}` are filled in by the frame.
"""

from __future__ import annotations

import re
from typing import Any

STRINGS: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hi! How can we help you today?",
        "de": "Hallo! Wie können wir Ihnen helfen?",
        "fr": "Bonjour ! Comment pouvons-nous vous aider ?",
    },
    "placeholder": {"en": "Write a message…", "de": "Nachricht schreiben…", "fr": "Écrivez un message…"},
    "send": {"en": "Send", "de": "Senden", "fr": "Envoyer"},
    "close": {"en": "Close chat", "de": "Chat schließen", "fr": "Fermer la discussion"},
    "attach": {"en": "Attach a file", "de": "Datei anhängen", "fr": "Joindre un fichier"},
    "open_chat": {"en": "Open chat", "de": "Chat öffnen", "fr": "Ouvrir la discussion"},
    "adult": {
        "en": "I am 18 or older.",
        "de": "Ich bin mindestens 18 Jahre alt.",
        "fr": "J'ai 18 ans ou plus.",
    },
    "adults_only": {
        "en": "This chat is for adults only. Confirm that you are 18 or older to start.",
        "de": "Dieser Chat ist nur für Erwachsene. Bestätigen Sie, dass Sie mindestens 18 sind.",
        "fr": "Cette discussion est réservée aux adultes. Confirmez que vous avez 18 ans ou plus.",
    },
    "identity_refused": {
        "en": "This site could not confirm who you are, so the chat continues without your account.",
        "de": "Diese Seite konnte Sie nicht bestätigen; der Chat geht ohne Ihr Konto weiter.",
        "fr": "Ce site n'a pas pu confirmer votre identité ; la discussion continue sans votre compte.",
    },
    "typing": {"en": "{name} is typing…", "de": "{name} schreibt…", "fr": "{name} écrit…"},
    "someone": {"en": "Someone", "de": "Jemand", "fr": "Quelqu'un"},
    "new_conversation": {"en": "New conversation", "de": "Neue Unterhaltung", "fr": "Nouvelle conversation"},
    "support": {"en": "Support", "de": "Support", "fr": "Support"},
    "assistant": {"en": "Assistant", "de": "Assistent", "fr": "Assistant"},
    "file_failed": {
        "en": "The file could not be opened.",
        "de": "Die Datei konnte nicht geöffnet werden.",
        "fr": "Le fichier n'a pas pu être ouvert.",
    },
    "attach_first": {
        "en": "Write a message first, then attach files.",
        "de": "Schreiben Sie zuerst eine Nachricht, dann können Sie Dateien anhängen.",
        "fr": "Écrivez d'abord un message, puis joignez des fichiers.",
    },
    "away": {
        "en": "We are away right now. Leave a message and we will answer {when}.",
        "de": "Wir sind gerade nicht da. Hinterlassen Sie eine Nachricht; wir antworten {when}.",
        "fr": "Nous sommes absents. Laissez un message, nous répondrons {when}.",
    },
    "away_email": {
        "en": "We are away right now. Leave a message with your e-mail address and we will reply by e-mail {when}.",
        "de": "Wir sind gerade nicht da. Hinterlassen Sie eine Nachricht mit Ihrer E-Mail-Adresse; wir antworten per E-Mail {when}.",
        "fr": "Nous sommes absents. Laissez un message avec votre adresse e-mail, nous répondrons par e-mail {when}.",
    },
    "when_soon": {"en": "as soon as we are back", "de": "sobald wir zurück sind", "fr": "dès notre retour"},
    "when_at": {"en": "from {time}", "de": "ab {time}", "fr": "à partir de {time}"},
}
LOCALES: tuple[str, ...] = ("en", "de", "fr")
DEFAULT_LOCALE = "en"
MAX_OVERRIDE_CHARS = 500

_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_LINE = re.compile(r"^\s*(?:([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\s*:\s*)?([a-z_]+)\s*=(.*)$")


def parse_overrides(lines: list[str]) -> dict[str, dict[str, str]]:
    """`locale:key=text` or `key=text` (every locale) lines as `{locale or "*": {key: text}}`; a wrong
    line is a ValueError naming it (the widget spec turns it into a 400 on `settings.strings`)."""
    out: dict[str, dict[str, str]] = {}
    for line in lines:
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{line[:60]!r}: write key=text or locale:key=text, e.g. de:send=Abschicken")
        locale, key, text = (match[1] or "*").lower(), match[2], match[3].strip()
        if key not in STRINGS:
            raise ValueError(f"{key!r} is not a widget text; known: {', '.join(STRINGS)}")
        if locale != "*" and not _LOCALE.match(locale):
            raise ValueError(f"{locale!r} is not a language tag such as de or pt-br")
        if not text or len(text) > MAX_OVERRIDE_CHARS:
            raise ValueError(f"the text for {key!r} must be 1 to {MAX_OVERRIDE_CHARS} characters")
        out.setdefault(locale, {})[key] = text
    return out


def valid_locale_setting(value: str) -> bool:
    return value == "auto" or bool(_LOCALE.match(value.lower()))


def known_locales(overrides: dict[str, dict[str, str]]) -> list[str]:
    return list(dict.fromkeys([*LOCALES, *(loc for loc in overrides if loc != "*")]))


def pick_locale(setting: str, accept_language: str, overrides: dict[str, dict[str, str]]) -> str:
    """The inbox's fixed locale, or with `auto` the visitor's most preferred one we have (by the
    `Accept-Language` header of the frame request; a region falls back to its language)."""
    available = known_locales(overrides)
    if setting and setting != "auto":
        return setting.lower()
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().lower().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            ranked.append((-q, index, tag))
    for _q, _i, tag in sorted(ranked):
        if tag in available:
            return tag
        if tag.split("-")[0] in available:
            return tag.split("-")[0]
    return DEFAULT_LOCALE


def resolve(locale: str, overrides: dict[str, dict[str, str]], greeting: str = "") -> dict[str, str]:
    """Every text for `locale`: the override for that locale, else for every locale, else the table's
    text in that locale (or its language), else English. A non-empty `greeting` setting wins."""
    base = locale.split("-")[0]
    out: dict[str, Any] = {}
    for key, texts in STRINGS.items():
        out[key] = (
            overrides.get(locale, {}).get(key)
            or overrides.get(base, {}).get(key)
            or overrides.get("*", {}).get(key)
            or texts.get(locale)
            or texts.get(base)
            or texts[DEFAULT_LOCALE]
        )
    if greeting.strip():
        out["greeting"] = greeting.strip()
    return out
