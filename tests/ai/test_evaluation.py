"""The cross-validated check of an intent model: it holds each phrase out, names the intents it mixes up,
and skips what cannot be held out."""

from __future__ import annotations

from relaydesk.ai import DEFAULT_INTENTS, as_training_pairs
from relaydesk.ai.evaluation import cross_validate

SLICE = ("order_status", "cancel_order", "refund", "talk_to_human", "greeting", "change_address")


# Two intents an admin wrote from the same pool of phrasings: nothing tells them apart.
_SAME_REQUEST = [
    "where is my parcel",
    "my parcel has not arrived yet",
    "when will my order arrive",
    "the delivery is late",
    "my package is delayed",
    "it should have come yesterday",
    "still waiting for my order",
    "has my parcel shipped",
    "tracking shows no movement",
    "my order is taking too long",
    "where is my delivery",
    "the courier never came",
]
TWINS = {"delivery_late": _SAME_REQUEST[0::2], "where_is_order": _SAME_REQUEST[1::2]}


def _check(intents, **kwargs):  # type: ignore[no-untyped-def]
    """What a workspace training does with its `{intent: phrases}` (agent/workspace_intents.train)."""
    return cross_validate(*as_training_pairs(intents), **kwargs)


def test_every_phrase_is_predicted_once_by_a_model_that_never_saw_it():
    intents = {k: DEFAULT_INTENTS[k] for k in SLICE}
    ev = _check(intents)
    assert ev is not None
    assert ev.evaluated == sum(len(v) for v in intents.values()) and ev.folds == 5
    assert 0.5 <= ev.accuracy <= 1.0  # distinct built-in intents: mostly right, not trivially perfect data
    assert {s.intent for s in ev.intents} == set(SLICE)
    assert sum(s.support for s in ev.intents) == ev.evaluated
    recalls = [s.recall for s in ev.intents]
    assert recalls == sorted(recalls)  # weakest first, for the admin to fix
    # Deterministic for a seed: the page shows the same figures after a reload.
    assert _check(intents) == ev


def test_intents_written_alike_are_reported_as_confused_with_an_example():
    intents = {**TWINS, "greeting": DEFAULT_INTENTS["greeting"], "refund": DEFAULT_INTENTS["refund"]}
    ev = _check(intents)
    assert ev is not None
    confused = {(c.intent, c.predicted_as) for c in ev.confusions}
    assert confused & {("delivery_late", "where_is_order"), ("where_is_order", "delivery_late")}
    for c in ev.confusions:
        assert c.example in intents[c.intent] and c.count >= 1
    twins = {s.intent: s.recall for s in ev.intents if s.intent in TWINS}
    others = {s.intent: s.recall for s in ev.intents if s.intent not in TWINS}
    assert min(others.values()) > min(twins.values())


def test_too_little_to_hold_out_is_said_not_guessed():
    # One phrase: trained on, never held out, and named as not checked.
    ev = _check(
        {"greeting": DEFAULT_INTENTS["greeting"], "refund": DEFAULT_INTENTS["refund"], "rare": ["x y z"]}
    )
    assert ev is not None and ev.not_evaluated == ["rare"]
    assert "rare" not in {s.intent for s in ev.intents}
    # A lone phrase still gives the model a usable typicality reference (it was NaN: 0 x inf).
    from relaydesk.ai import IntentClassifier

    lone = IntentClassifier().fit(["hello there", "hi", "refund please"], ["greeting", "greeting", "refund"])
    assert lone._typicality is not None and 0 < lone._typicality.reference < float("inf")
    assert (
        cross_validate(["hello", "hi"], ["greeting", "greeting"]) is None
    )  # one intent: nothing to tell apart
    assert cross_validate(["hello", "refund me"], ["greeting", "refund"]) is None  # nothing can be held out


def test_a_large_workspace_stops_after_enough_phrases():
    intents = {k: DEFAULT_INTENTS[k] for k in SLICE}
    ev = _check(intents, max_evaluated=20)
    total = sum(len(v) for v in intents.values())
    assert ev is not None and ev.folds < 5 and 20 <= ev.evaluated < total
