"""Every job handler module; importing this package registers them all."""

from relaydesk.jobs.handlers import inbound, maintenance, outbound

__all__ = ["inbound", "maintenance", "outbound"]
