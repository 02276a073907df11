"""Offline message understanding: intent, out-of-scope, sentiment, language.

Everything here runs on CPU from models shipped inside PyPI packages; the
offline guard below is applied on import so no submodule can reach a model
hub by accident. Heavy models load lazily on first use.
"""

from relaydesk.ai.offline import enforce_offline

enforce_offline()

from relaydesk.ai.default_intents import DEFAULT_INTENTS, as_training_pairs, merge_examples  # noqa: E402
from relaydesk.ai.intent import IntentClassifier, IntentConfig, IntentPrediction  # noqa: E402
from relaydesk.ai.language import DetectedLanguage, LanguageDetector  # noqa: E402
from relaydesk.ai.sentiment import Sentiment, SentimentAnalyzer, is_frustrated, trend  # noqa: E402
from relaydesk.ai.understand import Understanding, default_model, understand, warm_up  # noqa: E402

__all__ = [
    "DEFAULT_INTENTS",
    "DetectedLanguage",
    "IntentClassifier",
    "IntentConfig",
    "IntentPrediction",
    "LanguageDetector",
    "Sentiment",
    "SentimentAnalyzer",
    "Understanding",
    "as_training_pairs",
    "default_model",
    "is_frustrated",
    "merge_examples",
    "trend",
    "understand",
    "warm_up",
]
