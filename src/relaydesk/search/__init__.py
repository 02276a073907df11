"""Search over personal data through blind token digests (see relaydesk.search.index)."""
