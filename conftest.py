"""Fixtures for every test in the repository, including the ones beside each channel adapter."""

pytest_plugins = ["tests.support.fixtures"]
