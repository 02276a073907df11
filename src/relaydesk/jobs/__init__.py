"""Durable work after a commit: the outbox table, handler registry, dispatcher and worker."""
