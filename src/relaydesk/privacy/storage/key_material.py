"""Key material: contact data keys (one per contact, the key crypto-shredding destroys) and workspace
key generations, both wrapped under the master key (privacy/keys.py)."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="contact keys",
        about="a contact's wrapped data key: whoever holds it and the master key can read their data",
        tables={"contact_keys": ("wrapped",)},
        subject="contact_keys.contact_id",
        export="never exported",
        erase="destroyed at erasure, leaving a tombstone that refuses a re-inserted key",
        retention=Retention.KEYS,
        enforced="destroyed by shredding",
    ),
    DataClass(
        name="workspace keys",
        about="a workspace's wrapped key generations (they wrap contact keys and the blind-index key)",
        tables={"workspace_keys": ("wrapped",)},
        subject="none (workspace)",
        export="never exported",
        erase="kept while the workspace exists",
        retention=Retention.KEYS,
        enforced="while the workspace exists",
    ),
)
