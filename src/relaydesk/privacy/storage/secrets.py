"""Secrets: inbox credentials, webhook signing keys, TOTP seeds and AI provider keys, sealed under a
per-workspace (or platform) subkey of the master key. Not personal data of contacts, but declared here so
the map accounts for every sealed column, and never exported or logged."""

from __future__ import annotations

import json
import uuid
from typing import Any

from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import vault
from relaydesk.privacy.crypto import aad_for
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.sealing import row_aad

DATA_CLASSES = (
    DataClass(
        name="secrets",
        about="channel credentials, webhook signing secrets, AI provider API keys, agents' TOTP seeds",
        tables={
            "inboxes": ("credentials",),
            "webhook_endpoints": ("secret",),
            "ai_settings": ("api_key_sealed",),
            "users": ("totp_secret",),
        },
        subject="none (workspace or agent configuration, not about a contact)",
        export="never exported",
        erase="deleted with the inbox, endpoint, setting or agent; re-sealed on master rotation",
        retention=Retention.CONFIGURATION,
        enforced="row deletion",
    ),
)


def write_inbox_credentials(inbox: Inbox, credentials: dict[str, Any]) -> None:
    raw = json.dumps(credentials, sort_keys=True).encode()
    inbox.credentials = vault.seal_secret_bytes(inbox.workspace_id, raw, row_aad(inbox, "credentials"))


def read_inbox_credentials(inbox: Inbox) -> dict[str, Any]:
    if not inbox.credentials:
        return {}
    raw = vault.open_secret_bytes(inbox.workspace_id, inbox.credentials, row_aad(inbox, "credentials"))
    return json.loads(raw)  # type: ignore[no-any-return]


def scope_aad(scope: uuid.UUID, table: str, column: str) -> bytes:
    """Associated data bound to a scope (workspace or platform) rather than to one row."""
    return aad_for(scope, table, column, scope)


def seal_secret(workspace_id: uuid.UUID, value: str) -> bytes:
    """A secret (webhook signing key, TOTP seed, provider API key) sealed for a workspace or another scope
    id (e.g. the platform scope for per-user secrets). Bound to the scope, not to one row: callers build
    Core statements with it before a row id is at hand."""
    return vault.seal_secret_bytes(workspace_id, value.encode(), scope_aad(workspace_id, "secrets", "value"))


def open_secret(workspace_id: uuid.UUID, blob: bytes) -> str:
    return vault.open_secret_bytes(workspace_id, blob, scope_aad(workspace_id, "secrets", "value")).decode()
