"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import inbound, maintenance, outbound, webhooks

__all__ = ["inbound", "maintenance", "outbound", "webhooks"]
