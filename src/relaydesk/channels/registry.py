"""The one registry of implemented channels: channel type -> its name, label and adapter.

Everything that offers, validates or seeds a channel type (the admin's "create inbox" form, the API's inbox
create, `GET /api/v1/channels`, the demo) reads this table, so a channel is offered only once its adapter
exists. Inbox rows keep `channel_type` as a plain string, so a row of a type removed later still loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaydesk.channels.api.adapter import ApiChannel
from relaydesk.channels.base import ChannelAdapter
from relaydesk.channels.widget.interim import WidgetChannel


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    adapter: ChannelAdapter
    # Hours after the customer's last message during which the provider accepts free replies (None: always).
    reply_window_hours: int | None = None


_CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("api", "API (signed webhooks)", ApiChannel()),
        Channel("widget", "Website chat widget", WidgetChannel()),
    )
}


def implemented_channels() -> list[Channel]:
    """Every channel an inbox can be created for, in the order the admin offers them."""
    return list(_CHANNELS.values())


def channel(channel_type: str) -> Channel | None:
    return _CHANNELS.get(channel_type)


def adapter_for(channel_type: str) -> ChannelAdapter | None:
    found = _CHANNELS.get(channel_type)
    return found.adapter if found else None
