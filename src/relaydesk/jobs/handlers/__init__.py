"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import (
    ai,
    attachments,
    exports,
    hours,
    inbound,
    maintenance,
    media,
    outbound,
    receivers,
    rekey,
    webhooks,
)

__all__ = [
    "ai",
    "attachments",
    "exports",
    "hours",
    "inbound",
    "maintenance",
    "media",
    "outbound",
    "receivers",
    "rekey",
    "webhooks",
]
