"""Relaydesk: privacy-first omnichannel customer service with AI agents."""

__version__ = "0.1.0"
