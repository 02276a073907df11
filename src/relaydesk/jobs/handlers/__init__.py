"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import (
    ai,
    attachments,
    inbound,
    maintenance,
    outbound,
    receivers,
    rekey,
    webhooks,
)

__all__ = ["ai", "attachments", "inbound", "maintenance", "outbound", "receivers", "rekey", "webhooks"]
