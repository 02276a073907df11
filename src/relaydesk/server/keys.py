"""Where the master keys come from: configuration, or a generated file in demo mode only.

`RELAYDESK_MASTER_KEY` holds one key, or several separated by commas while a master key is being rotated
(newest first: it wraps new workspace keys; the older ones still unwrap until `relaydesk keys rotate
--master` has re-wrapped everything, after which they are removed from the setting).
"""

from __future__ import annotations

import os
from pathlib import Path

from relaydesk.config import ConfigError, Settings
from relaydesk.privacy.crypto import InvalidMasterKey, MasterKey, generate_master_key, parse_master_key

DEMO_KEY_FILE = Path(".relaydesk/master.key")

__all__ = ["DEMO_KEY_FILE", "generate_master_key", "load_master_key", "load_master_keys", "parse_master_keys"]


def parse_master_keys(text: str) -> list[MasterKey]:
    """Newest first; configuration errors name the setting but never echo key material."""
    keys: list[MasterKey] = []
    for position, part in enumerate(p for p in text.split(",") if p.strip()):
        try:
            keys.append(parse_master_key(part))
        except InvalidMasterKey as exc:
            raise ConfigError(f"RELAYDESK_MASTER_KEY (key {position + 1}): {exc}") from None
    if not keys:
        raise ConfigError("RELAYDESK_MASTER_KEY is empty; generate one with `relaydesk keys generate`")
    if len({k.key_id for k in keys}) != len(keys):
        raise ConfigError("RELAYDESK_MASTER_KEY lists the same key twice")
    return keys


def load_master_keys(settings: Settings) -> list[MasterKey]:
    """The configured master keys; outside demo mode a missing key refuses start-up."""
    if settings.master_key:
        return parse_master_keys(settings.master_key)
    if not settings.demo:
        raise ConfigError(
            "RELAYDESK_MASTER_KEY is not set. Generate one with `relaydesk keys generate` and keep it safe: "
            "without it the encrypted data cannot be read."
        )
    if not DEMO_KEY_FILE.exists():
        DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_KEY_FILE.write_text(generate_master_key())
        os.chmod(DEMO_KEY_FILE, 0o600)
    return parse_master_keys(DEMO_KEY_FILE.read_text())


def load_master_key(settings: Settings) -> bytes:
    """The current (newest) master key's bytes, for deriving peppers (derive a subkey, never use it raw)."""
    return load_master_keys(settings)[0].key
