"""The README and the API docs claim only what exists: every channel the README names as working is in the
registry, every channel not in the registry is listed under "Not yet", and every `/api/v1/...` path that
README.md or docs/api.md names is a route of the app (parametrised paths matched by pattern)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relaydesk.channels.registry import implemented_channels
from relaydesk.runtime import build_runtime
from relaydesk.server.app import create_app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
API_DOC = (ROOT / "docs" / "api.md").read_text()

# How each channel is spelled in prose -> its channel type (registered or not).
CHANNEL_WORDS = {
    "API channel": "api",
    "website chat": "widget",
    "e-mail": "email",
    "WhatsApp": "whatsapp",
    "Messenger": "messenger",
    "Instagram": "instagram",
    "Telegram": "telegram",
    "SMS": "sms",
}


def _section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert found, f"README has no '## {title}' section"
    return found.group(1)


def _channel_bullets(text: str) -> str:
    """The lines that speak of channels (other bullets mention e-mail as a contact detail, not a channel)."""
    return "\n".join(line for line in text.split("\n- ") if "hannel" in line)


def test_every_channel_named_as_working_is_registered():
    registered = {c.name for c in implemented_channels()}
    working = _channel_bullets(_section("What works today"))
    named = {kind for word, kind in CHANNEL_WORDS.items() if word.lower() in working.lower()}
    assert "api" in named, "the README must name the API channel as working"
    assert named <= registered, f"README claims unregistered channels: {sorted(named - registered)}"


def test_every_unregistered_channel_is_listed_as_not_yet():
    registered = {c.name for c in implemented_channels()}
    not_yet = _section("Not yet").lower()
    missing = [w for w, kind in CHANNEL_WORDS.items() if kind not in registered and w.lower() not in not_yet]
    assert missing == []


def _doc_paths() -> set[str]:
    """Full `/api/v1/...` paths in README and docs/api.md, plus the first column of docs/api.md's resource
    table, whose paths are relative to /api/v1 (`/{id}` and `/reactivate` extend the cell's first path)."""
    paths = set()
    for text in (README, API_DOC):
        paths.update(p.rstrip(".,)") for p in re.findall(r"/api/v1/[^\s`'\")?]+", text))
    for row in re.findall(r"^\| (`/[^|]*)\|", API_DOC, re.M):
        cell = re.findall(r"`(/[^`]*)`", row)
        first = cell[0]
        for token in cell:
            if token.startswith("/{"):
                full = first + token
            elif token.split("/")[1] == first.split("/")[1]:
                full = token
            else:
                full = first.rsplit("/", 1)[0] + token
            paths.add("/api/v1" + full)
    return paths


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "/?$")


@pytest.fixture(scope="module")
def route_patterns(settings) -> list[re.Pattern[str]]:  # type: ignore[no-untyped-def]
    app = create_app(runtime=build_runtime(settings), manage_runtime=False)
    return [_route_pattern(r.path) for r in app.routes]


def test_every_documented_api_path_is_a_route(route_patterns):
    documented = _doc_paths()
    assert "/api/v1/channels" in documented and "/api/v1/inboxes/{id}" in documented  # the parser sees them
    unknown = sorted(
        p
        for p in documented
        if not any(r.match(p.replace("{", "x").replace("}", "")) for r in route_patterns)
    )
    assert unknown == []


def test_the_route_check_can_fail(route_patterns):
    assert not any(r.match("/api/v1/contacts/x1/erase") for r in route_patterns)
