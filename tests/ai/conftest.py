"""Session fixtures: the encoders load once and one small model is shared.

Loading MiniLM costs ~1 s and fitting a small classifier a few more, so the
whole tests/ai run stays well under a minute on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relaydesk.ai import DEFAULT_INTENTS, IntentClassifier, as_training_pairs

#: A slice of the built-in intents that are easy to confuse with each other.
SLICE = ("order_status", "cancel_order", "refund", "talk_to_human", "greeting", "change_address")
# The public data sets (BANKING77, HWU64, BANKING77-OOS) as bench/ai/run.py reads them.
DATA = Path(os.environ.get("RELAYDESK_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def small_model() -> IntentClassifier:
    texts, labels = as_training_pairs({k: DEFAULT_INTENTS[k] for k in SLICE})
    return IntentClassifier().fit(texts, labels)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "banking77" / "train.csv").is_file():
        pytest.skip("the public data sets are not available (set RELAYDESK_DATA)")
    return DATA
