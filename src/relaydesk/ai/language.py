"""Language detection restricted to the workspace's languages.

lingua is accurate on short text and fully offline, but every language it
loads costs memory (7 languages in high-accuracy mode add ~210 MB RSS; the
trigram-only low-accuracy mode ~18 MB). Support messages are short and a
workspace serves a handful of languages, so we load only those, in low
accuracy mode by default, and fall back to the workspace default when the
message is too short to tell (a bare "hi" or "ok").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

#: Languages a new workspace gets: the EU's most common support languages.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "pt", "nl")
#: Fewer letters than this and n-gram statistics are noise.
MIN_LETTERS = 6
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
#: Function words per language. Low-accuracy lingua only sees trigrams and
#: mislabels short English questions ("Where is my order? It is late." came
#: out German); a handful of very frequent, mostly language-specific words
#: is a cheap prior that fixes that without loading the 200 MB models.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the is are my you your it this that what where when why how have has was not and i".split()
    ),
    "de": frozenset(
        "der die das ist ich nicht und mein meine sie wir ein eine wie wo warum habe wird".split()
    ),
    "fr": frozenset("le la les est je ne pas et mon ma mes vous une un où pourquoi avec pour".split()),
    "es": frozenset("el la los las es yo no y mi mis usted una un dónde por qué para con está".split()),
    "it": frozenset("il lo la gli è io non e mio mia una un dove perché per con sono ho".split()),
    "pt": frozenset("o a os as é eu não e meu minha uma um onde porque para com está tenho".split()),
    "nl": frozenset("de het is ik niet en mijn een waar waarom voor met heb wordt nog".split()),
}
#: How much one function-word hit adds to lingua's relative confidence.
_HIT_WEIGHT = 0.15


@dataclass(frozen=True, slots=True)
class DetectedLanguage:
    """ISO 639-1 code and lingua's relative confidence (0 when we fell back)."""

    code: str
    confidence: float
    reliable: bool


class LanguageDetector:
    """Lazy lingua detector over a fixed set of ISO 639-1 codes."""

    def __init__(
        self,
        languages: Iterable[str] = DEFAULT_LANGUAGES,
        default: str = "en",
        high_accuracy: bool = False,
        min_confidence: float = 0.4,
    ) -> None:
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        if len(self.languages) < 1:
            raise ValueError("at least one language is required")
        self.default = default.lower()
        self.high_accuracy = high_accuracy
        self.min_confidence = min_confidence
        self._detector = None
        self._lock = threading.Lock()

    def _load(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [IsoCode639_1.from_str(code) for code in self.languages]
                if len(codes) == 1:
                    # lingua refuses a one-language detector; nothing to detect anyway.
                    return None
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                if not self.high_accuracy:
                    builder = builder.with_low_accuracy_mode()
                self._detector = builder.with_preloaded_language_models().build()
        return self._detector

    def detect(self, text: str) -> DetectedLanguage:
        """Most likely workspace language, or the default when unsure."""
        if len(_LETTER.findall(text or "")) < MIN_LETTERS or len(self.languages) == 1:
            return DetectedLanguage(self.default, 0.0, False)
        detector = self._detector or self._load()
        scores = {
            v.language.iso_code_639_1.name.lower(): float(v.value)
            for v in detector.compute_language_confidence_values(text)
        }
        words = [w.lower() for w in _WORD.findall(text)]
        for code in scores:
            hits = sum(1 for w in words if w in _FUNCTION_WORDS.get(code, ()))
            scores[code] += _HIT_WEIGHT * min(hits, 4)
        total = sum(scores.values())
        if total <= 0:
            return DetectedLanguage(self.default, 0.0, False)
        code, best = max(scores.items(), key=lambda kv: kv[1])
        confidence = round(best / total, 4)
        if confidence < self.min_confidence:
            return DetectedLanguage(self.default, confidence, False)
        return DetectedLanguage(code, confidence, True)
