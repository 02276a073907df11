"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import ai, inbound, maintenance, outbound, rekey, webhooks

__all__ = ["ai", "inbound", "maintenance", "outbound", "rekey", "webhooks"]
