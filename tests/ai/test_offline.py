"""Loading and running every model must not touch the network."""

from __future__ import annotations

import os
import socket

import pytest

from relaydesk.ai.embeddings import MiniLMEmbedder
from relaydesk.ai.language import LanguageDetector
from relaydesk.ai.offline import ModelUnavailableError, package_dir
from relaydesk.ai.sentiment import SentimentAnalyzer
from relaydesk.ai.wordvec import WordVectors


class NetworkUsedError(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(address)
        raise NetworkUsedError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    return attempts


def test_fresh_models_load_and_run_with_sockets_blocked(no_network: list[object]) -> None:
    vec = MiniLMEmbedder().encode(["where is my order?"])
    assert vec.shape == (1, 384)
    assert WordVectors().encode(["where is my order?"]).shape == (1, 256)
    assert SentimentAnalyzer().analyze("great, thanks").label == "positive"
    assert LanguageDetector().detect("Where is my order? It is late.").code == "en"
    assert no_network == []


def test_blocking_really_blocks(no_network: list[object]) -> None:
    with pytest.raises(NetworkUsedError):
        socket.create_connection(("127.0.0.1", 9))
    assert no_network


def test_offline_switches_are_set() -> None:
    import relaydesk.ai  # noqa: F401

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def test_missing_package_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailableError):
        package_dir("relaydesk_no_such_model_package")
