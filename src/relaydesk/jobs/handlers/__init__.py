"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import ai, attachments, hours, inbound, maintenance, outbound, rekey, webhooks

__all__ = ["ai", "attachments", "hours", "inbound", "maintenance", "outbound", "rekey", "webhooks"]
