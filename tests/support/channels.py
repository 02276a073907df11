"""Registering a channel spec defined by a test, for that test only: the door, the API, the admin, the jobs
and the receivers' supervisor must serve a channel they were not written for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from relaydesk.channels import registry
from relaydesk.channels.spec import ChannelSpec


@contextmanager
def registered(spec: ChannelSpec) -> Iterator[ChannelSpec]:
    specs = registry._specs()
    assert spec.name not in specs, f"a channel named {spec.name!r} exists already"
    specs[spec.name] = spec
    try:
        yield spec
    finally:
        specs.pop(spec.name, None)
