"""Built-in customer-service intents a new workspace starts with.

The phrases are written by us for Relaydesk (not copied from any data set)
so they can ship under our licence. They cover the requests that drive the
order-management tools and the handoff policy; a workspace adds its own
intents or more examples with :func:`merge_examples`. About ten varied
phrasings per intent is where the classifier becomes usable (see
bench/ai/README.md for accuracy at 10 examples per intent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

DEFAULT_INTENTS: dict[str, tuple[str, ...]] = {
    "order_status": (
        "where is my order",
        "what's the status of my order",
        "can you check on order 48213 for me",
        "has my purchase shipped yet",
        "I ordered last week and haven't heard anything",
        "any update on my order?",
        "is my order being processed",
        "track my order please",
        "when will my order be ready",
        "I want to know what is happening with my order",
        "my order still says pending",
    ),
    "cancel_order": (
        "I want to cancel my order",
        "please cancel order 55120",
        "can I still cancel my purchase",
        "how do I cancel what I just bought",
        "stop my order, I don't need it anymore",
        "I changed my mind, cancel it",
        "cancel the order I placed this morning",
        "is it too late to cancel my order",
        "I ordered by mistake and want to cancel",
        "don't ship it, I want to cancel",
    ),
    "change_address": (
        "I need to change my delivery address",
        "can I update the shipping address on my order",
        "wrong address on my order",
        "please send it to a different address",
        "I moved, how do I change where my order goes",
        "update the address for order 77310",
        "I made a typo in my street name",
        "deliver to my office instead of home",
        "change the postcode on my order",
        "can you ship it to my new address",
    ),
    "refund": (
        "I want a refund",
        "how do I get my money back",
        "when will I receive my refund",
        "I returned the item but wasn't refunded",
        "please refund my order",
        "can I get a refund for a damaged product",
        "my refund hasn't shown up on my card",
        "request a refund for order 30021",
        "I'd like to return this and get reimbursed",
        "how long do refunds take",
    ),
    "delivery": (
        "how long does delivery take",
        "do you ship to Canada",
        "what are the shipping costs",
        "my package is late",
        "the courier said delivered but I have nothing",
        "can I choose express shipping",
        "which carrier do you use",
        "the parcel arrived damaged",
        "do you offer free delivery",
        "my tracking number doesn't work",
    ),
    "payment": (
        "my payment was declined",
        "which payment methods do you accept",
        "I was charged twice",
        "can I pay with PayPal",
        "the card payment failed at checkout",
        "why was I charged more than the price shown",
        "can I pay by bank transfer",
        "there's an unknown charge on my statement",
        "do you take Apple Pay",
        "I need an invoice for my payment",
    ),
    "account": (
        "I can't log in to my account",
        "how do I reset my password",
        "I want to delete my account",
        "change the email on my account",
        "my account is locked",
        "how do I create an account",
        "I didn't get the verification email",
        "update my phone number in my profile",
        "someone else may be using my account",
        "how do I unsubscribe from your emails",
    ),
    "complaint": (
        "I want to make a complaint",
        "this is the worst service I have ever had",
        "I'm very unhappy with how I was treated",
        "your product broke after one day",
        "nobody has answered my emails for a week",
        "this is unacceptable",
        "I'm disappointed with the quality",
        "your support agent was rude to me",
        "I've been waiting forever and no one cares",
        "I want to file a formal complaint",
    ),
    "talk_to_human": (
        "I want to talk to a human",
        "let me speak to a real person",
        "connect me with an agent",
        "can I talk to someone from support",
        "are you a bot? I need a person",
        "transfer me to customer service",
        "I need to speak with a manager",
        "get me a human please",
        "representative",
        "call me back please, I want to talk to somebody",
    ),
    "greeting": (
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hi, I have a question",
        "hello, anyone there?",
        "good afternoon",
        "hey",
        "hiya",
        "good evening",
    ),
    "thanks": (
        "thanks",
        "thank you so much",
        "that's helpful, thanks",
        "great, thank you",
        "perfect, cheers",
        "thanks for your help",
        "appreciate it",
        "ok thanks, that solved it",
        "many thanks",
        "awesome, thank you",
    ),
    "goodbye": (
        "bye",
        "goodbye",
        "that's all, bye",
        "see you",
        "nothing else, have a nice day",
        "I'm done, thanks bye",
        "talk later",
        "ok bye now",
        "have a good one",
        "that's everything for today",
    ),
    "product_question": (
        "is this item in stock",
        "what size should I order",
        "does this come in other colours",
        "what is the warranty on this product",
        "is this compatible with my phone",
        "when will it be back in stock",
        "what are the dimensions of this item",
        "what material is it made of",
        "do you have a user manual for this",
        "is there a discount on this product",
    ),
    "return_item": (
        "how do I return an item",
        "I want to send this back",
        "can I exchange it for a different size",
        "what is your return policy",
        "I need a return label",
        "the item doesn't fit, can I return it",
        "where do I send my return",
        "can I return something I bought on sale",
        "how many days do I have to return",
        "I received the wrong item and want to swap it",
    ),
}


def merge_examples(
    extra: Mapping[str, Iterable[str]] | None = None,
    base: Mapping[str, Sequence[str]] = DEFAULT_INTENTS,
    drop: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Defaults plus a workspace's own intents/examples, minus intents it disabled.

    Duplicate phrasings are removed (case-insensitively) because repeated
    examples would silently up-weight an intent.
    """
    dropped = set(drop)
    merged: dict[str, list[str]] = {}
    for source in (base, extra or {}):
        for intent, phrases in source.items():
            if intent in dropped:
                continue
            bucket = merged.setdefault(intent, [])
            seen = {p.casefold() for p in bucket}
            for phrase in phrases:
                phrase = phrase.strip()
                if phrase and phrase.casefold() not in seen:
                    bucket.append(phrase)
                    seen.add(phrase.casefold())
    return {k: v for k, v in merged.items() if v}


def as_training_pairs(intents: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    """Flatten ``{intent: [phrases]}`` into the (texts, labels) that ``fit`` takes."""
    texts: list[str] = []
    labels: list[str] = []
    for intent, phrases in intents.items():
        texts.extend(phrases)
        labels.extend([intent] * len(phrases))
    return texts, labels
