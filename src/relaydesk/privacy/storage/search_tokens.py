"""Blind search tokens (search/index.py): keyed digests of the words of contacts and messages, the only
derived store built from personal data inside the database."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="search tokens",
        about="HMAC digests of each word of a contact's name, e-mail, phone and of message texts",
        tables={"search_tokens": ("token",)},
        subject="search_tokens.subject_id (a contact or a message of their conversations)",
        export="not exported: derived from fields that are",
        erase="deleted for the contact and every message of their conversations at shredding; replaced "
        "on correction (old values stop matching)",
        retention=Retention.CONVERSATION,
        enforced="replaced on correction, deleted at shredding",
    ),
)
