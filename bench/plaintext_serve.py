"""Bench only: `relaydesk serve` with AES-256-GCM replaced by the same framing without encryption.

The baseline of `bench/encryption_cost.py`. The product has no switch to store personal data in clear,
and must not get one; this wrapper swaps `crypto.seal` / `crypto.open_sealed` in its own process before
the server starts, so everything else (key management, blind indexes, AAD building, storage layer) runs
as it does in production and the difference measured is the cipher work alone.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from relaydesk.privacy import crypto

_NONCE = bytes(crypto.NONCE_BYTES)
_TAG = bytes(crypto.TAG_BYTES)


def _seal(key: bytes, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
    return crypto._header(key_id) + _NONCE + bytes(plaintext) + _TAG


def _open(resolve: Callable[[str], bytes], blob: bytes, aad: bytes) -> bytes:
    _header, key_id, _nonce, body = crypto._split(blob)
    resolve(key_id)  # erased keys still refuse, as in production
    return body[: -crypto.TAG_BYTES]


@contextlib.contextmanager
def plaintext() -> Iterator[None]:
    """Within the block, this process seals without encrypting (the bench's setup writes the inbox
    credentials that the plaintext server must read back)."""
    saved = crypto.seal, crypto.open_sealed
    crypto.seal, crypto.open_sealed = _seal, _open  # type: ignore[assignment]
    try:
        yield
    finally:
        crypto.seal, crypto.open_sealed = saved  # type: ignore[assignment]


if __name__ == "__main__":
    from relaydesk.cli.main import main

    with plaintext():
        sys.argv = ["relaydesk", "serve"]
        main()
