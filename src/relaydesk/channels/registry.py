"""The one registry of implemented channels, built from the specs of the channel folders listed here.

Everything that offers, validates or routes a channel type (the admin's inbox form, `POST /api/v1/inboxes`,
`GET /api/v1/channels`, the webhook door, the outbound job, the receivers' supervisor, the demo) reads this
table, so a channel exists exactly when its folder's `spec.py` exports `SPEC` and is listed in
`CHANNEL_MODULES` (tests/core/test_channel_folders.py fails for a folder that is not). Inbox rows keep
`channel_type` as a plain string, so a row of a type removed later still loads.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from relaydesk.channels.spec import ChannelSpec

#: One module per channel folder, in the order the admin offers them. Adding a channel = one line here.
CHANNEL_MODULES: tuple[str, ...] = (
    "relaydesk.channels.api.spec",
    "relaydesk.channels.widget.spec",
    "relaydesk.channels.email.spec",
)


@cache
def _specs() -> dict[str, ChannelSpec]:
    found: dict[str, ChannelSpec] = {}
    for module_name in CHANNEL_MODULES:
        spec = importlib.import_module(module_name).SPEC
        if not isinstance(spec, ChannelSpec):
            raise TypeError(f"{module_name}.SPEC is not a ChannelSpec")
        if spec.name in found:
            raise ValueError(f"two channels are named {spec.name!r}")
        found[spec.name] = spec
    return found


def implemented_channels() -> list[ChannelSpec]:
    """Every channel an inbox can be created for, in the order the admin offers them."""
    return list(_specs().values())


def spec_for(channel_type: str) -> ChannelSpec | None:
    return _specs().get(channel_type)


def load(path: str) -> Any:
    """The object an import path `package.module:attribute` of a spec names (`fake`, `routes`, `receiver`)."""
    module_name, _, attribute = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj
