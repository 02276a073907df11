"""Channel adapters: one folder per provider with its adapter, real payload fixtures and tests.

Adapters are pure: they verify and parse raw requests and send outbound messages over a given HTTP
client; they never touch the database (tests/test_layering.py checks the imports).
"""
