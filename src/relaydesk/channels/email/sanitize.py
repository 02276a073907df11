"""HTML mail bodies made safe to show, and turned into text when a mail has no text part.

Sanitising is `nh3` (the ammonia HTML sanitiser): an allow-list of tags and attributes, no scripts, no
event handlers, no `style` (CSS `url()` would load remote content), no forms or frames, links opened with
`rel="noopener noreferrer"`. Remote images are a tracking pixel as often as a picture, so they are blocked
until the agent asks: their `src` moves to `data-remote-src`, which loads nothing; the thread view offers
"show images", which copies it back. `cid:` images (inline parts of the same mail) and `data:` images load
nothing remote and keep their `src`.
"""

from __future__ import annotations

import html as html_lib
import re

import nh3

# Tags kept: nh3's defaults minus those that load or embed something.
_TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in _TAGS},
    "img": {"src", "alt", "width", "height", "title"},
    "a": {"href", "title"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_DROPPED_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript", "iframe", "object"}

# nh3's serializer always writes attributes as name="value" with `"` escaped, so inside a tag a `"` only
# ever delimits a value: this matches one whole <img ...> tag even when a value contains `>`.
_IMG_TAG = re.compile(r'<img\b(?:[^<>"]|"[^"]*")*>')
_REMOTE_SRC = re.compile(r'\ssrc="((?:https?:)?//[^"]*)"', re.IGNORECASE)
_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h[1-6]|blockquote|table|pre)\s*>")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """`data:` URLs are allowed for images only (a `data:text/html` link would be a script)."""
    if value.strip().lower().startswith("data:") and not (tag == "img" and attribute == "src"):
        return None
    if tag == "img" and attribute == "src" and value.strip().lower().startswith("data:"):
        return value if value.strip().lower().startswith("data:image/") else None
    return value


def sanitize_html(raw: str) -> tuple[str, int]:
    """The safe HTML and how many remote images were blocked."""
    cleaned = nh3.clean(
        raw,
        tags=_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=_URL_SCHEMES,
        strip_comments=True,
    )
    blocked = 0

    def block(match: re.Match[str]) -> str:
        nonlocal blocked
        tag, count = _REMOTE_SRC.subn(r' data-remote-src="\1"', match.group(0))
        blocked += count
        return tag

    return _IMG_TAG.sub(block, cleaned), blocked


def html_to_text(raw: str) -> str:
    """Readable text of an HTML body, for a mail that has no text/plain part: block ends become line
    breaks, every tag goes (with the content of scripts and styles), entities are decoded."""
    marked = _BLOCK_END.sub("\n", raw)
    text = html_lib.unescape(nh3.clean(marked, tags=set(), clean_content_tags=_DROPPED_WITH_CONTENT))
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


_CID_SRC = re.compile(r'\ssrc="cid:([^"]*)"', re.IGNORECASE)
_BLOCKED_SRC = re.compile(r'\sdata-remote-src="([^"]*)"')


def viewable_html(safe: str, inline_urls: dict[str, str], *, show_images: bool) -> str:
    """Sanitised HTML made ready to view: `cid:` images point at their attachments (`inline_urls`, by
    Content-ID; an unknown one loads nothing), and blocked remote images get their `src` back only when the
    agent asked (`show_images`). Works on `sanitize_html` output only, whose attribute quoting it relies on."""

    def rewrite(match: re.Match[str]) -> str:
        tag = _CID_SRC.sub(
            lambda m: f' src="{html_lib.escape(inline_urls.get(m.group(1), ""), quote=True)}"', match.group(0)
        )
        if show_images:
            tag = _BLOCKED_SRC.sub(r' src="\1"', tag)
        return tag

    return _IMG_TAG.sub(rewrite, safe)
