"""The map of personal data: every data class the storage package declares, the text-capable columns that
hold none (with the reason), and what Relaydesk keeps outside the database.

tests/privacy/test_data_map.py walks the SQLAlchemy metadata against this: a new table, or a new column
that can hold text, bytes or JSON, fails until it is declared here or in a data class. docs/privacy.md
("Map of personal data") is generated from it (`markdown_table`).
"""

from __future__ import annotations

from relaydesk.privacy.storage import (
    accounts,
    ai_logs,
    attachments,
    audit_log,
    contacts,
    key_material,
    messages,
    operational,
    raw_bodies,
    search_tokens,
    secrets,
)
from relaydesk.privacy.storage.datamap import DataClass

DATA_MAP: tuple[DataClass, ...] = (
    *contacts.DATA_CLASSES,
    *messages.DATA_CLASSES,
    *attachments.DATA_CLASSES,
    *ai_logs.DATA_CLASSES,
    *search_tokens.DATA_CLASSES,
    *raw_bodies.DATA_CLASSES,
    *operational.DATA_CLASSES,
    *audit_log.DATA_CLASSES,
    *accounts.DATA_CLASSES,
    *secrets.DATA_CLASSES,
    *key_material.DATA_CLASSES,
)

_ENUM = "a fixed vocabulary (kind, state, role, type), never free text"

# Text-capable columns (strings, text, bytes, JSON) that hold no personal data, per table, with the reason.
NOT_PERSONAL: dict[str, tuple[tuple[str, ...], str]] = {
    "contacts": ((), "every text-capable column is personal"),
    "conversations": (("status", "priority"), _ENUM),
    "messages": (("message_type", "sender_kind", "status"), _ENUM),
    "attachments": (("content_type",), "media type, kept in clear by design (docs/encryption.md §4)"),
    "inbound_events": (
        ("channel_type", "state", "signature_hash"),
        "channel name, state, SHA-256 of a request",
    ),
    "ai_decisions": (("action", "reason_category", "provider"), _ENUM),
    "ai_conversation_states": (("off_reason",), _ENUM),
    "ai_contact_preferences": (("reason",), _ENUM),
    "search_tokens": (("kind",), _ENUM),
    "events": (("type",), _ENUM),
    "jobs": (("kind", "state", "locked_by"), "job kind, state and the worker's name"),
    "audit_events": (
        ("actor_kind", "action", "target_type", "request_id", "outcome", "prev_hash", "hash"),
        "catalogued action names, kinds, outcomes, request ids and chain hashes",
    ),
    "audit_checkpoints": (("hash", "key_id", "mac"), "chain hashes and their MAC"),
    "users": ((), "every text-capable column is personal or secret"),
    "memberships": (("role",), _ENUM),
    "invitations": (("role",), _ENUM),
    "api_tokens": (("scopes",), "names of API scopes"),
    "user_sessions": (("stage",), _ENUM),
    "contact_keys": (("key_id",), "key identifier (names the contact id, already the row's key)"),
    "workspace_keys": (("key_id",), "key identifier"),
    "key_rotations": (("target_key_id",), "key identifier"),
    "master_key_check": (("check_value",), "a MAC that proves the master key, no data"),
    "workspaces": (("name", "slug", "settings"), "the business's own name and settings"),
    "inboxes": (
        ("name", "channel_type", "public_id", "settings", "last_error"),
        "the business's channel configuration and its last connection error",
    ),
    "webhook_endpoints": (
        ("url", "description", "event_types", "last_error"),
        "the business's integration endpoints and their delivery errors",
    ),
    "ai_settings": (("config", "probe"), "the business's AI configuration and endpoint probe"),
    "ai_intents": (("name", "description", "examples", "priority"), "intent phrases the business writes"),
    "ai_intent_models": (
        ("state", "error", "model_bytes", "evaluation"),
        "a classifier trained from the business's intent phrases, not from messages",
    ),
    "knowledge_articles": (
        ("kind", "title", "body", "url", "tags", "source_key"),
        "the business's help articles",
    ),
    "knowledge_chunks": (
        ("heading", "text", "embedding"),
        "chunks and embeddings of the business's help articles (the only vector store), not of messages",
    ),
    "canned_responses": (("short_code", "content"), "reply templates agents write"),
    "labels": (("name", "color", "description"), "the business's label vocabulary"),
    "teams": (("name", "description"), "the business's team names"),
    "attribute_definitions": (
        ("applies_to", "key", "label", "value_type", "options"),
        "definitions of custom attributes (the values are sealed with the contact)",
    ),
}

# Where Relaydesk writes outside the database, by module (src-relative path), with what and why. Nothing
# here holds a contact's data; a new file write fails the map test until it is listed.
OUTSIDE_DATABASE: dict[str, str] = {
    "server/keys.py": "the demo's generated master key file (demo mode only)",
    "demo.py": "the demo's admin sign-in file (demo mode only)",
    "realtime/catalogue.py": "regenerates the event table of docs/api.md (a developer command)",
    "channels/email/imap_server.py": "the loopback IMAP server's self-signed certificate (tests, demo)",
}

# Stores kept in memory only, with what they hold.
IN_MEMORY: dict[str, str] = {
    "privacy/vault.py": "unwrapped data keys, for a few minutes (`cache_ttl`); dropped at shredding",
    "ai/agent/workspace_intents.py": "unpacked intent classifiers per workspace (no contact data)",
    "ai/knowledge/retrieval.py": "knowledge-base vectors per workspace (help articles only)",
    "realtime/": "the event bus (in-process or Redis pub/sub) relays event rows: ids and state only",
}


def declared_columns() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for data_class in DATA_MAP:
        found |= data_class.columns()
    return found


def declared_tables() -> set[str]:
    return {table for data_class in DATA_MAP for table in data_class.tables}


def markdown_table() -> str:
    """The map of personal data as the table in docs/privacy.md."""
    lines = [
        "| Data class | Tables (columns) | Tied to the contact by | Export | Erasure | Retention class | "
        "Retention today |",
        "|---|---|---|---|---|---|---|",
    ]
    for dc in DATA_MAP:
        tables = "; ".join(
            f"`{table}`" + (f" ({', '.join(columns)})" if columns else "")
            for table, columns in dc.tables.items()
        )
        cells = [dc.name, tables, dc.subject, dc.export, dc.erase, f"`{dc.retention}`", dc.enforced]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
