"""Everything that leaves Relaydesk over HTTP: the SSRF-guarded client and webhook signing."""
