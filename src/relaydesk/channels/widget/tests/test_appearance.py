"""The widget's look and texts: hex colours, the WCAG contrast warning, per-locale text overrides over one
table, and the locale a visitor's browser gets."""

from __future__ import annotations

import pytest

from relaydesk.channels.widget import appearance, strings


def test_colours_are_checked_hex_and_low_contrast_is_warned() -> None:
    assert appearance.check_colour(" #2563EB ") == "#2563eb"
    for bad in ("blue", "#fff", "#12345g", "2563eb", "#2563eb00"):
        with pytest.raises(ValueError):
            appearance.check_colour(bad)
    assert round(appearance.contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    assert appearance.contrast_ratio("#777777", "#777777") == 1.0
    assert appearance.contrast_warnings("#2563eb", "#ffffff") == []  # 5.2:1
    [warning] = appearance.contrast_warnings("#fde047", "#ffffff")  # yellow with white text
    assert "1.3:1" in warning and "4.5:1" in warning


def test_every_text_has_english_and_overrides_win_per_locale() -> None:
    assert all("en" in texts for texts in strings.STRINGS.values())
    overrides = strings.parse_overrides(["send=Go", "de:send=Abschicken", "pt-BR:greeting=Olá!"])
    assert overrides == {"*": {"send": "Go"}, "de": {"send": "Abschicken"}, "pt-br": {"greeting": "Olá!"}}
    german = strings.resolve("de", overrides)
    assert german["send"] == "Abschicken" and german["placeholder"] == "Nachricht schreiben…"
    assert strings.resolve("fr", overrides)["send"] == "Go"
    brazil = strings.resolve("pt-br", overrides)
    assert brazil["greeting"] == "Olá!" and brazil["close"] == "Close chat"  # English for the rest
    assert strings.resolve("de", overrides, greeting=" Moin! ")["greeting"] == "Moin!"
    for bad in ("nonsense", "de:nokey=x", "send=", "x1:send=Go", "de:send=" + "x" * 501):
        with pytest.raises(ValueError):
            strings.parse_overrides([bad])


def test_the_locale_follows_the_setting_or_the_visitors_browser() -> None:
    overrides = strings.parse_overrides(["pt-br:send=Enviar"])
    assert strings.pick_locale("de", "fr-FR,fr;q=0.9", overrides) == "de"
    assert strings.pick_locale("auto", "fr-CH, fr;q=0.9, en;q=0.8", overrides) == "fr"
    assert strings.pick_locale("auto", "es;q=0.9, pt-BR", overrides) == "pt-br"
    assert strings.pick_locale("auto", "ja, zh;q=0.5", overrides) == "en"
    assert strings.pick_locale("auto", "de;q=0.2, fr;q=0.8", overrides) == "fr"
    assert strings.pick_locale("auto", "", {}) == "en"
