"""The limits an inbound mail is held to, in one place (docs/email.md "Limits").

A mail over a *refusing* limit is refused as a whole with the reason (`InvalidMail`): it cannot be read
safely, and the provider or mailbox keeps it. A mail over a *neutralising* limit is accepted: the part that
fits is shown, the rest is skipped with a note on the message, and the original is kept sealed, so nothing
valid is lost.
"""

from __future__ import annotations

# Refusing limits (a mail over one is refused as a whole).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # the whole RFC 5322 message; common providers stop at 25 MB
MAX_HEADER_BLOCK_BYTES = 256 * 1024  # all header fields of the top-level message together
MAX_HEADER_FIELDS = 1000  # header fields of the top-level message
MAX_MULTIPART_CONTAINERS = 64  # multipart/* and message/rfc822 containers: bounds nesting and parser work
MAX_NESTING_DEPTH = 16  # how deep containers may nest
MAX_PART_HEADER_FIELD_BYTES = 8 * 1024  # a Content-* field anywhere (real ones stay under 1 KB)

# Neutralising limits (what is over is skipped with a note; a structure limit hides the whole body).
MAX_HEADER_FIELD_BYTES = 16 * 1024  # a single header field longer than this is ignored (References included)
MAX_PARTS = 250  # leaf parts looked at; later ones are skipped and counted
MAX_ATTACHMENTS = 50  # attachments and inline images kept per mail
MAX_REFERENCES = 100  # Message-IDs kept from References (the most recent ones)
MAX_ID_CHARS = 250  # a Message-ID longer than this is replaced by a digest (the column holds 255)
MAX_TEXT_CHARS = 20_000  # visible text (the message column's limit); longer text is cut, original kept
MAX_QUOTE_SCAN_CHARS = 100_000  # quote/signature detection only runs on bodies up to this size (regex cost)
MAX_HTML_CHARS = 2 * 1024 * 1024  # HTML bodies larger than this are not sanitised or kept (text is used)
MAX_NAME_CHARS = 200  # display name
MAX_SUBJECT_CHARS = 998  # RFC 5322 line length
