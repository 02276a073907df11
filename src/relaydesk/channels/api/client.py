"""What an integrator's code does to call the API channel: sign a body. Used by tests, bench and docs."""

from __future__ import annotations

import time

from relaydesk.channels.api.spec import SIGNATURE_HEADER, TIMESTAMP_HEADER, inbound_signature


def signed_request_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: inbound_signature(secret, ts, body),
    }
