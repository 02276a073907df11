"""The `relaydesk` command line."""
