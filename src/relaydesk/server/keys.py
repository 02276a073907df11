"""Where the master key comes from: configuration, or a generated file in demo mode only."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from relaydesk.config import ConfigError, Settings

PREFIX = "rdmk_"
DEMO_KEY_FILE = Path(".relaydesk/master.key")


def generate_master_key() -> str:
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def parse_master_key(text: str) -> bytes:
    text = text.strip()
    if not text.startswith(PREFIX):
        raise ConfigError(
            f"RELAYDESK_MASTER_KEY must start with {PREFIX!r}; generate one with `relaydesk keys generate`"
        )
    raw = text[len(PREFIX) :]
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError as exc:
        raise ConfigError("RELAYDESK_MASTER_KEY is not valid base64url") from exc
    if len(key) != 32:
        raise ConfigError("RELAYDESK_MASTER_KEY must hold 32 bytes")
    return key


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key:
        return parse_master_key(settings.master_key)
    if not settings.demo:
        raise ConfigError(
            "RELAYDESK_MASTER_KEY is not set. Generate one with `relaydesk keys generate` and keep it safe: "
            "without it the encrypted data cannot be read."
        )
    if not DEMO_KEY_FILE.exists():
        DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_KEY_FILE.write_text(generate_master_key())
        os.chmod(DEMO_KEY_FILE, 0o600)
    return parse_master_key(DEMO_KEY_FILE.read_text())
