"""What the AI decided about a contact's conversations, and the per-contact and per-conversation
switches that stop it. Written by actions/ai.py; declared here so export and erasure account for it."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="AI decision log",
        about="each automated decision on a conversation: inputs (ids and scores), sources, outcome, "
        "whether and why the contact contested it",
        tables={"ai_decisions": ("inputs", "sources", "contest_note")},
        subject="ai_decisions.conversation_id → conversations.contact_id",
        export="`conversations[].ai_decisions[]`",
        erase="rows deleted with the conversation (foreign key cascade)",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
    DataClass(
        name="AI switches",
        about="AI turned off for one conversation or for a contact (objection), and hand-off state",
        tables={"ai_conversation_states": (), "ai_contact_preferences": ()},
        subject="ai_contact_preferences.contact_id; ai_conversation_states.conversation_id",
        export="`contact.ai_off`, `conversations[].ai_off`",
        erase="rows deleted with the contact or conversation (foreign key cascade)",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
)
