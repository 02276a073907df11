"""Behaviour of the intent classifier on small slices (not headline accuracy)."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest

from relaydesk.ai import DEFAULT_INTENTS, IntentClassifier, IntentConfig, as_training_pairs, merge_examples
from relaydesk.ai.intent import label_phrase

UNSEEN_PARAPHRASES = {
    "could you tell me where my package is right now": "order_status",
    "please stop my purchase, I no longer want it": "cancel_order",
    "I would like my money returned": "refund",
    "put me through to a real agent": "talk_to_human",
    "hello!": "greeting",
    "ship my order to another street please": "change_address",
}


def test_predicts_unseen_paraphrases(small_model: IntentClassifier) -> None:
    got = {text: small_model.predict(text).intent for text in UNSEEN_PARAPHRASES}
    assert got == UNSEEN_PARAPHRASES


def test_prediction_fields_are_consistent(small_model: IntentClassifier) -> None:
    pred = small_model.predict("where is my order 1234?")
    assert 0.0 <= pred.confidence <= 1.0
    assert pred.alternatives[0] == (pred.intent, pred.confidence)
    confs = [c for _, c in pred.alternatives]
    assert confs == sorted(confs, reverse=True)
    assert not pred.out_of_scope


def test_batch_matches_single(small_model: IntentClassifier) -> None:
    texts = list(UNSEEN_PARAPHRASES)
    batch = small_model.predict_batch(texts)
    for text, pred in zip(texts, batch, strict=True):
        single = small_model.predict(text)
        assert single.intent == pred.intent
        assert single.confidence == pytest.approx(pred.confidence, abs=1e-3)


@pytest.mark.parametrize(
    "text",
    [
        "qwxz plmk vbnrt zzkq",
        "what is the capital of Australia",
        "give me a recipe for banana bread",
        "who won the football match last night",
    ],
)
def test_out_of_scope_flags_gibberish_and_unrelated(small_model: IntentClassifier, text: str) -> None:
    assert small_model.predict(text).out_of_scope


def test_serialisation_round_trip(small_model: IntentClassifier) -> None:
    blob = small_model.to_bytes()
    assert isinstance(blob, bytes)
    # The blob is a plain npz: loadable without pickle.
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        assert "coef" in npz.files
    again = IntentClassifier.from_bytes(blob)
    texts = [*UNSEEN_PARAPHRASES, "random words about astronomy"]
    for a, b in zip(small_model.predict_batch(texts), again.predict_batch(texts), strict=True):
        assert a.intent == b.intent
        assert a.out_of_scope == b.out_of_scope
        assert a.confidence == pytest.approx(b.confidence, abs=2e-3)
    assert again.config.confidence_threshold == small_model.config.confidence_threshold


def test_from_bytes_rejects_other_formats(small_model: IntentClassifier) -> None:
    buf = io.BytesIO(small_model.to_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.npy":
                arr = np.load(io.BytesIO(data))
                meta = bytes(arr).decode().replace('"format": 1', '"format": 99')
                tmp = io.BytesIO()
                np.save(tmp, np.frombuffer(meta.encode(), dtype=np.uint8))
                data = tmp.getvalue()
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="format"):
        IntentClassifier.from_bytes(out.getvalue())


def test_unfitted_and_degenerate_inputs() -> None:
    with pytest.raises(RuntimeError):
        IntentClassifier().predict("hello")
    with pytest.raises(ValueError):
        IntentClassifier().fit(["a", "b"], ["only", "only"])
    with pytest.raises(ValueError):
        IntentClassifier().fit(["a"], ["x", "y"])


def test_workspace_can_add_its_own_intent() -> None:
    intents = merge_examples(
        {
            "loyalty_points": [
                "how many loyalty points do I have",
                "check my rewards balance",
                "can I use my points on this order",
                "my bonus points are missing",
                "when do my reward points expire",
            ]
        },
        drop=["goodbye", "product_question", "payment", "account", "complaint", "thanks", "return_item"],
    )
    assert "loyalty_points" in intents and "goodbye" not in intents
    model = IntentClassifier().fit(*as_training_pairs(intents))
    assert model.predict("what's my reward points balance?").intent == "loyalty_points"
    assert model.predict("I want to cancel my order").intent == "cancel_order"


def test_merge_examples_deduplicates_case_insensitively() -> None:
    merged = merge_examples({"refund": ["I want a REFUND", "  ", "refund me now"]}, drop=[])
    refund = merged["refund"]
    assert sum(p.casefold() == "i want a refund" for p in refund) == 1
    assert "refund me now" in refund and "" not in refund


def test_calibrate_trades_recall_for_in_scope_accuracy(small_model: IntentClassifier) -> None:
    model = IntentClassifier.from_bytes(small_model.to_bytes())
    in_texts, in_labels = list(UNSEEN_PARAPHRASES), list(UNSEEN_PARAPHRASES.values())
    oos = ["tell me a joke about cats", "how tall is mount everest", "translate dog into french"]
    fitted = model.calibrate(in_texts, in_labels, oos, min_in_scope_accuracy=1.0)
    assert fitted["in_scope_accuracy"] == 1.0
    assert not any(p.out_of_scope for p in model.predict_batch(in_texts))
    assert fitted["oos_recall"] == pytest.approx(np.mean([p.out_of_scope for p in model.predict_batch(oos)]))


def test_banking77_slice(data_dir) -> None:
    wanted = {"card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked"}

    def rows(split: str) -> list[dict[str, str]]:
        with (data_dir / "banking77" / f"{split}.csv").open(encoding="utf-8") as fh:
            return [r for r in csv.DictReader(fh) if r["category"] in wanted]

    train, test = rows("train"), rows("test")
    per: dict[str, list[str]] = {}
    for r in train:
        if len(per.setdefault(r["category"], [])) < 10:
            per[r["category"]].append(r["text"])
    model = IntentClassifier().fit(*as_training_pairs(per))
    sample = test[::4]
    acc = np.mean(
        [
            p.intent == r["category"]
            for p, r in zip(model.predict_batch([r["text"] for r in sample]), sample, strict=True)
        ]
    )
    assert acc >= 0.85


def test_intent_names_are_used_as_examples() -> None:
    per = {k: list(v) for k, v in as_training_pairs_dict().items()}
    with_names = IntentClassifier().fit(*as_training_pairs(per))
    without = IntentClassifier(IntentConfig(label_names=False)).fit(*as_training_pairs(per))
    # The name's own phrase is a training example, so it is its own nearest neighbour.
    assert with_names.predict("talk to human").similarity == pytest.approx(1.0, abs=1e-2)
    assert without.predict("talk to human").similarity < 0.99
    assert with_names.predict("change address").intent == "change_address"
    again = IntentClassifier.from_bytes(with_names.to_bytes())
    assert again.config.label_names is True


def test_label_phrase_splits_separators() -> None:
    assert label_phrase("card_payment_wrong_exchange_rate") == "card payment wrong exchange rate"
    assert label_phrase("iot-hue.lightchange") == "iot hue lightchange"
    assert label_phrase("___") == ""


def as_training_pairs_dict() -> dict[str, tuple[str, ...]]:
    names = ("order_status", "cancel_order", "refund", "talk_to_human", "greeting", "change_address")
    return {k: DEFAULT_INTENTS[k] for k in names}


def test_typicality_separates_known_from_unrelated(small_model: IntentClassifier) -> None:
    known = small_model.predict("where is my order, it has not arrived")
    unrelated = small_model.predict("give me a recipe for banana bread")
    assert 0.0 <= unrelated.typicality < known.typicality <= 1.0
    again = IntentClassifier.from_bytes(small_model.to_bytes())
    assert again.predict("give me a recipe for banana bread").typicality == pytest.approx(
        unrelated.typicality, abs=0.05
    )


def test_calibrate_can_use_typicality_alone(small_model: IntentClassifier) -> None:
    model = IntentClassifier.from_bytes(small_model.to_bytes())
    fitted = model.calibrate(list(UNSEEN_PARAPHRASES), list(UNSEEN_PARAPHRASES.values()), ["bake bread"], 1.0)
    assert set(fitted) >= {"confidence_threshold", "similarity_threshold", "typicality_threshold"}
    assert model.config.typicality_threshold == fitted["typicality_threshold"]
    assert IntentClassifier.from_bytes(model.to_bytes()).config.typicality_threshold == pytest.approx(
        fitted["typicality_threshold"]
    )
