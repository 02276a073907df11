"""The AI platform's fixtures (the loopback OpenAI-compatible fake, a customer who writes in, a small
knowledge base), for the privacy tests that check what the AI may and may not do with a person's data."""

from relaydesk.channels.widget.tests.support import relaydesk_server, visitors  # noqa: F401
from tests.ai_platform.conftest import (  # noqa: F401  (fixtures)
    customer_says,
    enable_ai,
    fake_openai,
    fake_openai_server,
    seed_kb,
)
