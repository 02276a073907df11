"""The widget's fixtures (support.py) for the tests in this folder."""

from relaydesk.channels.widget.tests.support import host_site, relaydesk_server, visitors  # noqa: F401
