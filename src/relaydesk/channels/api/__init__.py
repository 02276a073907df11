"""The generic API channel: integrators post signed messages in and receive signed webhooks out."""
