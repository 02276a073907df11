"""Channel type -> adapter instance."""

from __future__ import annotations

from relaydesk.channels.api.adapter import ApiChannel
from relaydesk.channels.base import ChannelAdapter

_ADAPTERS: dict[str, ChannelAdapter] = {"api": ApiChannel()}


def adapter_for(channel_type: str) -> ChannelAdapter | None:
    return _ADAPTERS.get(channel_type)
