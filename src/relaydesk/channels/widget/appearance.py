"""How a widget inbox's chat looks: colours (checked hex, with a readability warning), launcher position,
greeting and texts. Pure: the widget spec validates the settings with it, the frame and the loader read
them through `WidgetConfig`, and the admin preview asks it for warnings.
"""

from __future__ import annotations

import re

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
POSITIONS = ("right", "left")
DEFAULT_ACCENT_TEXT = "#ffffff"
# WCAG 2.x AA for normal text: below this, white on a light accent (or the reverse) is hard to read.
MIN_CONTRAST = 4.5


def check_colour(value: str) -> str:
    """`#rrggbb` in lower case, or ValueError."""
    text = value.strip()
    if not HEX_COLOUR.match(text):
        raise ValueError(f"{text[:20]!r} is not a colour like #2563eb")
    return text.lower()


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """The WCAG contrast ratio of two `#rrggbb` colours, from 1 (same) to 21 (black on white)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def contrast_warnings(accent: str, text: str) -> list[str]:
    """Readability warnings for the chosen colours (saving is still allowed: a brand colour is the
    admin's call, but they should know)."""
    ratio = contrast_ratio(accent, text)
    if ratio >= MIN_CONTRAST:
        return []
    return [
        f"Text colour {text} on {accent} has a contrast of {ratio:.1f}:1, below the {MIN_CONTRAST}:1 that "
        "WCAG asks for readable text: visitors may struggle to read the header, the launcher and their own "
        "messages."
    ]
