"""The handoff and objection policy (docs/ai.md): what a customer's words mean for the automated agent.

Keyword rules are the floor that always works, even with no model loaded: a customer who asks for a
person, objects to automation or says the bot is wrong gets a human — a model can add to these signals,
never remove them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Chatwoot Captain's categories, so a handoff reads the same whichever tool made it.
REASON_CATEGORIES = (
    "customer_request",
    "missing_knowledge",
    "unsupported_request",
    "policy_restriction",
    "tool_failure",
    "negative_sentiment",
    "loop",
    "contested",
)

_HUMAN = re.compile(
    r"\b(human|humans|real person|a person|live (agent|chat|person)|an agent|the agent|representative|"
    r"operator|someone real|real someone|staff member|"
    r"(talk|speak|chat) (to|with) (someone|somebody|a person|a human|an agent|support|a real)|"
    r"customer service rep\w*|a manager|your manager)\b",
    re.I,
)
_OBJECTION = re.compile(
    r"\b(no bots?|stop (the |this )?bot|not (a |the |this )?bot|(don'?t|do not) want (to (talk|chat|speak) "
    r"(to|with) )?(a |the |this |an )?(bot|ai|robot|machine|automated \w+)|object(ion)? to (automated|"
    r"automatic|ai|automation|the bot)|no (ai|automation|automated (answers|replies|responses))|"
    r"i object|stop (the )?(ai|automat\w+))\b",
    re.I,
)
_CONTEST = re.compile(
    r"\b(that'?s (wrong|not (right|correct|true|what i (asked|meant)))|that is (wrong|not (right|correct))|"
    r"wrong answer|(is|was) incorrect|not helpful|(didn'?t|did not|doesn'?t|does not) (help|answer)|"
    r"you'?re wrong|you are wrong|not what i asked)\b",
    re.I,
)
_AFFIRM = re.compile(r"^\s*(yes|yeah|yep|yup|sure|ok(ay)?|please( do)?|y|go ahead|connect me)\b", re.I)
_LEGAL = re.compile(
    r"\b(lawyer|attorney|legal action|sue you|court|chargeback|data protection authority|ombudsman)\b", re.I
)


def asks_for_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


def objects_to_automation(text: str) -> bool:
    return bool(_OBJECTION.search(text))


def contests(text: str) -> bool:
    return bool(_CONTEST.search(text))


def affirms(text: str) -> bool:
    return bool(_AFFIRM.match(text))


def policy_rule(text: str, keywords: Sequence[str]) -> str | None:
    """The matched rule's name: the built-in legal wording, or one of the workspace's own phrases."""
    if _LEGAL.search(text):
        return "legal"
    lower = text.lower()
    for phrase in keywords:
        if re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", lower):
            return f"keyword:{phrase}"
    return None


def is_loop(similarities: Sequence[float], threshold: float = 0.85) -> bool:
    """The customer said the same thing three times running: the last message is this close to both of
    the two before it."""
    return len(similarities) >= 2 and all(s >= threshold for s in similarities[-2:])
