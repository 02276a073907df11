"""The automated agent: settings, policy, redaction, auto-reply with citations, handoff, assist."""
