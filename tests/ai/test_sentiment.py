"""Sentiment sign on unambiguous messages and the conversation trend helpers."""

from __future__ import annotations

import pytest

from relaydesk.ai import SentimentAnalyzer, is_frustrated, trend
from relaydesk.ai.sentiment import POSITIVE_AT, label_for

ANALYZER = SentimentAnalyzer()


@pytest.mark.parametrize(
    "text",
    [
        "Thank you so much, this was really helpful!",
        "Great service, I love it :)",
        "Perfect, problem solved. You are awesome",
    ],
)
def test_clearly_positive(text: str) -> None:
    s = ANALYZER.analyze(text)
    assert s.score > 0.3 and s.label == "positive"


@pytest.mark.parametrize(
    "text",
    [
        "This is terrible, I hate this company",
        "Worst service ever, a complete scam",
        "I'm still waiting and nobody helps me, this is unacceptable",
        "my order never arrived",
    ],
)
def test_clearly_negative(text: str) -> None:
    s = ANALYZER.analyze(text)
    assert s.score < -0.05 and s.label == "negative"


def test_neutral_and_empty() -> None:
    assert ANALYZER.analyze("").label == "neutral"
    assert ANALYZER.analyze("   ").score == 0.0
    assert ANALYZER.analyze("My order number is 12345").label == "neutral"


def test_scores_stay_in_range() -> None:
    s = ANALYZER.analyze("TERRIBLE AWFUL HORRIBLE SCAM!!! still waiting, waste of money, never arrived")
    assert -1.0 <= s.score <= -0.9


def test_support_phrase_pushes_down() -> None:
    plain = ANALYZER.analyze("I am waiting for my parcel").score
    worse = ANALYZER.analyze("I am still waiting for my parcel").score
    assert worse < plain


def test_label_thresholds() -> None:
    assert label_for(POSITIVE_AT) == "positive"
    assert label_for(POSITIVE_AT - 0.01) == "neutral"
    assert label_for(0.0) == "neutral"
    assert label_for(-0.0001) == "negative"


def test_politeness_alone_is_not_positive() -> None:
    # Support messages are polite; a bare "thanks" (VADER +0.44) says little about satisfaction.
    assert ANALYZER.analyze("thanks").label == "neutral"
    assert ANALYZER.analyze("Thank you so much, this was really helpful!").label == "positive"


def test_trend_direction() -> None:
    assert trend([0.5, 0.2, -0.1, -0.4, -0.7]) < 0
    assert trend([-0.6, -0.2, 0.1, 0.5]) > 0
    assert trend([0.3]) == 0.0
    assert trend([0.1, 0.1, 0.1]) == 0.0


def test_frustration_rules() -> None:
    assert is_frustrated([-0.6, 0.0, -0.7])
    assert is_frustrated([0.4, 0.0, -0.3, -0.45])
    assert not is_frustrated([0.2, 0.3, 0.1])
    assert not is_frustrated([-0.6, 0.5, 0.6])
