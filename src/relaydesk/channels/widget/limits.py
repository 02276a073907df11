"""What a widget visitor may send: message length, attachment size and types.

Named limits, one place: the routes enforce them, the docs (docs/widget.md) quote them, the tests probe
their edges. A file's declared type must match its first bytes, so a script renamed `photo.png` is
refused rather than stored and later served to an agent under an image's name.
"""

from __future__ import annotations

import re

#: Characters in one visitor message (the agent composer has the same cap: actions.messages).
MAX_MESSAGE_CHARS = 5_000
#: Bytes of one attachment from a visitor.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_FILENAME_CHARS = 200
#: Caller-chosen id that makes a retried post idempotent.
CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

_PDF = b"%PDF-"
_PNG = b"\x89PNG\r\n\x1a\n"
#: Media type -> test of the first bytes. Text files have no signature: they must decode as UTF-8 and hold
#: no NUL, which excludes binaries that claim to be text.
ALLOWED_TYPES = {
    "image/png": lambda b: b.startswith(_PNG),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda b: b[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "application/pdf": lambda b: b.startswith(_PDF),
    "text/plain": lambda b: _is_text(b),
}


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class AttachmentRefused(Exception):
    """`status` 413 (too large) or 415 (type not allowed or not what the bytes are), with the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_attachment(content_type: str, data: bytes) -> str:
    """The media type to store, or `AttachmentRefused`."""
    media = content_type.split(";", 1)[0].strip().lower()
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused(
            413, f"attachments are limited to {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB"
        )
    if not data:
        raise AttachmentRefused(415, "the file is empty")
    check = ALLOWED_TYPES.get(media)
    if check is None:
        raise AttachmentRefused(
            415, f"files of type {media[:60]!r} are not accepted; send {', '.join(ALLOWED_TYPES)}"
        )
    if not check(data):
        raise AttachmentRefused(415, f"the file's content is not {media}")
    return media


def clean_filename(name: str | None) -> str:
    """A display name for the file: the last path part, control characters dropped, bounded."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_FILENAME_CHARS] or "file"
