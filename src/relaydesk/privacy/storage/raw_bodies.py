"""Raw inbound provider requests: the body as received (it holds personal data until parsed) sealed under
a workspace subkey, and its headers. Not under the contact key — the contact is not known when the request
is stored — so they go by retention (`inbound.purge_bodies`) and, at erasure, by the purge of the events
tied to the contact (actions/retention.py)."""

from __future__ import annotations

import uuid

from relaydesk.privacy import vault
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.secrets import scope_aad

DATA_CLASSES = (
    DataClass(
        name="raw inbound bodies",
        about="provider requests as received: body (sealed), headers, dedupe key, processing error",
        tables={"inbound_events": ("body", "headers", "dedupe_key", "error")},
        subject="`messages.inbound_event_id` of the messages it produced (exact); none until processed",
        export="not exported: the parsed messages are",
        erase="body and headers dropped for the events the contact's messages came from; rows kept without "
        "them so a provider retry is still refused",
        retention=Retention.RAW_INBOUND,
        enforced="`inbound.purge_bodies` job, `inbound_body_retention_days` (default 7) after processing",
    ),
)


def seal_raw_body(workspace_id: uuid.UUID, body: bytes) -> bytes:
    """Raw inbound provider bodies hold personal data until parsed; purge them with retention."""
    return vault.seal_secret_bytes(workspace_id, body, scope_aad(workspace_id, "inbound_events", "body"))


def open_raw_body(workspace_id: uuid.UUID, blob: bytes | None) -> bytes:
    if not blob:
        return b""
    return vault.open_secret_bytes(workspace_id, blob, scope_aad(workspace_id, "inbound_events", "body"))
