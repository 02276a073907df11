"""Language detection on clear sentences, and the fallback for short text."""

from __future__ import annotations

import pytest

from relaydesk.ai import LanguageDetector

DETECTOR = LanguageDetector()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hello, I ordered a jacket last week and it still has not arrived.", "en"),
        ("Hallo, ich habe letzte Woche eine Jacke bestellt und sie ist noch nicht angekommen.", "de"),
        ("Bonjour, j'ai commandé une veste la semaine dernière et elle n'est toujours pas arrivée.", "fr"),
        ("Hola, pedí una chaqueta la semana pasada y todavía no ha llegado.", "es"),
        ("Ciao, ho ordinato una giacca la settimana scorsa e non è ancora arrivata.", "it"),
        ("Hallo, ik heb vorige week een jas besteld en die is nog steeds niet aangekomen.", "nl"),
    ],
)
def test_clear_sentences(text: str, code: str) -> None:
    got = DETECTOR.detect(text)
    assert got.code == code
    assert got.reliable and got.confidence >= 0.4


def test_short_text_falls_back_to_workspace_default() -> None:
    got = LanguageDetector(default="de").detect("ok")
    assert got.code == "de" and not got.reliable and got.confidence == 0.0


def test_restricted_language_set() -> None:
    det = LanguageDetector(languages=("en", "fr"))
    assert det.detect("Je voudrais annuler ma commande, s'il vous plaît").code == "fr"
    # German is not a workspace language, so it can only map to one of the allowed codes.
    assert det.detect("Ich möchte meine Bestellung stornieren").code in {"en", "fr"}


def test_single_language_workspace_never_loads_models() -> None:
    det = LanguageDetector(languages=("en",))
    assert det.detect("Bonjour tout le monde, comment allez-vous").code == "en"
    assert det._detector is None
