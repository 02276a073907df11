import pytest

from relaydesk.auth.login import reset_throttles
from relaydesk.auth.throttle import ThrottlePolicy
from tests.web.helpers import cheap_argon2

# Two free failures instead of five: every failed attempt costs an argon2 verification (~0.5 s here).
TEST_POLICY = ThrottlePolicy(account_free_failures=2, ip_free_failures=40)


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):
    cheap_argon2(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """Every test logs in from 127.0.0.1; start each with empty throttle counters."""
    reset_throttles(TEST_POLICY)
    yield
    reset_throttles()
