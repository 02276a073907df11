"""The one package that reads and writes personal data, encrypted at rest (docs/encryption.md), and the
map of it (docs/privacy.md, "Map of personal data").

Message content, attachment bytes, contact PII, raw inbound bodies and channel credentials go in and out
of the database only through these functions, so encryption, blind indexing and erasure live in one place.
Nothing else assigns `Message.content`, `Contact.email`, `Attachment.data`, ... directly
(tests/core/test_layering.py greps for it). This `__init__` is the public interface: callers write
`from relaydesk.privacy import storage` and `storage.<name>`; the modules behind it are data classes.

* Message content, attachments and contact PII are sealed (AES-256-GCM) under the **contact's** data key,
  with associated data naming workspace, table, column and row id. Destroying the contact's key
  (`shred_contact`) makes all of it unreadable at once, wherever copies of the ciphertext went.
* Secrets and raw bodies are sealed under a per-workspace subkey of the master key (`vault.py`).
* Exact lookups use blind indexes (`email_bidx`, `phone_bidx`); search uses blind word tokens.

Modules, one per class of data, each declaring in `DATA_CLASSES` how it is exported, erased and retained:
`contacts`, `messages`, `attachments`, `exports`, `raw_bodies`, `secrets`, `ai_logs`, `search_tokens`,
`operational` (events, jobs), `audit_log`, `accounts` (agents), `key_material`; `catalogue` gathers them.
Shared machinery: `sealing` (seal/open a column, pinned keys), `keyload` (contact keys fetched in one
batched query right after a SELECT, an ORM event) and `erasure` (crypto-shredding).

Reads stay synchronous (serializers call them while building JSON); a shredded contact's fields read as
None.
"""

from __future__ import annotations

from relaydesk.privacy import vault
from relaydesk.privacy.storage import keyload as _keyload  # noqa: F401  (installs the ORM key loading)
from relaydesk.privacy.storage.attachments import (
    ATTACHMENT_NAME,
    CLEAR_METADATA_BATCH,
    content_digest_matches,
    new_attachment,
    read_attachment,
    read_attachment_name,
    seal_clear_attachment_metadata,
    workspaces_with_clear_attachment_metadata,
)
from relaydesk.privacy.storage.catalogue import DATA_MAP
from relaydesk.privacy.storage.contacts import (
    ContactPII,
    find_contacts_by_email,
    find_contacts_by_phone,
    normalise_email,
    read_contact,
    sealed_new_contact,
    search_contacts,
    write_contact,
)
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.erasure import shred_contact
from relaydesk.privacy.storage.exports import open_export_archive, seal_export_archive
from relaydesk.privacy.storage.messages import (
    read_message_content,
    seal_message_text,
    search_messages,
    transient_message,
    write_message_content,
)
from relaydesk.privacy.storage.raw_bodies import open_raw_body, seal_raw_body
from relaydesk.privacy.storage.sealing import (
    CONTACT_FIELDS,
    SEALED_COLUMNS,
    KeysNotLoaded,
    configure,
    contact_keys,
    index_for,
    is_shredded,
)
from relaydesk.privacy.storage.secrets import (
    open_secret,
    read_inbox_credentials,
    seal_secret,
    write_inbox_credentials,
)

__all__ = [
    "ATTACHMENT_NAME",
    "CLEAR_METADATA_BATCH",
    "CONTACT_FIELDS",
    "DATA_MAP",
    "SEALED_COLUMNS",
    "ContactPII",
    "DataClass",
    "KeysNotLoaded",
    "Retention",
    "configure",
    "contact_keys",
    "content_digest_matches",
    "find_contacts_by_email",
    "find_contacts_by_phone",
    "index_for",
    "is_shredded",
    "new_attachment",
    "normalise_email",
    "open_export_archive",
    "open_raw_body",
    "open_secret",
    "read_attachment",
    "read_attachment_name",
    "read_contact",
    "read_inbox_credentials",
    "read_message_content",
    "seal_clear_attachment_metadata",
    "seal_export_archive",
    "seal_message_text",
    "seal_raw_body",
    "seal_secret",
    "sealed_new_contact",
    "search_contacts",
    "search_messages",
    "shred_contact",
    "transient_message",
    "vault",
    "workspaces_with_clear_attachment_metadata",
    "write_contact",
    "write_inbox_credentials",
    "write_message_content",
]
