"""Operational rows that mention contacts by id: realtime/webhook events and background jobs. They carry
ids and state, never message content or contact fields (models/events.py), but ids still point at a
person, so they are part of the map."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="events",
        about="realtime and webhook event rows: type and a payload of ids and state",
        tables={"events": ("payload",)},
        subject="ids inside `payload` (conversation, message, contact)",
        export="not exported: they repeat what the conversations show",
        erase="not touched: ids only, unreadable once the rows they point at are gone",
        retention=Retention.EVENTS,
        enforced="not yet: the events table is never pruned",
    ),
    DataClass(
        name="jobs",
        about="background work: kind, payload of ids and options, last error, idempotency key",
        tables={"jobs": ("payload", "last_error", "idempotency_key")},
        subject="ids inside `payload`",
        export="not exported",
        erase="not touched: ids only",
        retention=Retention.JOBS,
        enforced="`jobs.prune`: done jobs after 7 days; dead jobs stay until an admin retries or deletes them",
    ),
)
