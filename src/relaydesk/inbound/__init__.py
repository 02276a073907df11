"""Provider webhooks in: verify the signature on the raw bytes, store the raw event, answer, queue."""
