"""The widget's doors (HTTP and WebSocket handlers the server mounts, listed by the spec's `routes`).

A door like `api/`: it may use the runtime and the actions; the rest of the folder (identity, limits,
config, the spec) stays pure.
"""

from __future__ import annotations

from typing import Any

from relaydesk.channels.widget.routes.api import API_ROUTES
from relaydesk.channels.widget.routes.preview import PREVIEW_ROUTES
from relaydesk.channels.widget.routes.stream import visitor_socket

ROUTES: list[Any] = [*API_ROUTES, *PREVIEW_ROUTES, visitor_socket]
