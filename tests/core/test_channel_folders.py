"""A channel is one folder: each `channels/<x>/` carries its spec (exporting `SPEC`, listed in the
registry), real payload fixtures, a loopback fake and its tests. This test fails for a folder that lacks
any of them, and for a registered spec whose folder does not exist."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from relaydesk.channels import registry
from relaydesk.channels.spec import FIELD_KINDS, ChannelSpec

CHANNELS = Path(registry.__file__).resolve().parent

# Folders being built right now, with what they still lack. Strict: once a folder is complete this test
# passes for it and fails the suite until its entry is removed here, so an entry cannot outlive its reason.
BEING_BUILT: dict[str, str] = {}


def channel_folders() -> list[Path]:
    """Every package under channels/ is a channel; the modules beside them (spec, envelopes, registry,
    loopback) are shared."""
    return sorted(
        p for p in CHANNELS.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "tests"
    )


def test_there_is_at_least_the_api_channel() -> None:
    assert "api" in [p.name for p in channel_folders()]


@pytest.mark.parametrize(
    "folder",
    [
        pytest.param(p, marks=pytest.mark.xfail(reason=BEING_BUILT[p.name], strict=True))
        if p.name in BEING_BUILT
        else p
        for p in channel_folders()
    ],
    ids=lambda p: p.name,
)
def test_every_channel_folder_is_complete(folder: Path) -> None:
    name = folder.name
    module_name = f"relaydesk.channels.{name}.spec"
    assert (folder / "spec.py").is_file(), f"channels/{name}/ has no spec.py"
    spec = getattr(importlib.import_module(module_name), "SPEC", None)
    assert isinstance(spec, ChannelSpec), f"channels/{name}/spec.py exports no SPEC (a ChannelSpec)"
    assert module_name in registry.CHANNEL_MODULES, f"{module_name} is not listed in channels/registry.py"
    assert registry.spec_for(spec.name) is spec

    fixtures = (
        [p for p in (folder / "fixtures").rglob("*") if p.is_file()] if (folder / "fixtures").is_dir() else []
    )
    assert fixtures, f"channels/{name}/fixtures/ holds no real payload"
    assert all(p.stat().st_size > 0 for p in fixtures), f"channels/{name}/fixtures/ has an empty file"

    assert (folder / "fake.py").is_file(), f"channels/{name}/ has no fake.py (its loopback fake)"
    fake_module, _, _ = spec.fake.partition(":")
    assert fake_module == f"relaydesk.channels.{name}.fake", f"{name}: SPEC.fake must point into fake.py"
    assert registry.load(spec.fake) is not None

    tests = folder / "tests"
    assert (tests / "__init__.py").is_file(), f"channels/{name}/tests/ is not a package"
    assert list(tests.glob("test_*.py")), f"channels/{name}/tests/ has no test module"


def test_every_registered_spec_lives_in_its_own_folder() -> None:
    folders = {p.name for p in channel_folders()}
    for module_name in registry.CHANNEL_MODULES:
        parts = module_name.split(".")
        assert parts[:2] == ["relaydesk", "channels"] and parts[3:] == ["spec"], module_name
        assert parts[2] in folders, f"{module_name} has no folder under channels/"


@pytest.mark.parametrize("spec", registry.implemented_channels(), ids=lambda s: s.name)
def test_every_spec_is_well_formed(spec: ChannelSpec) -> None:
    assert spec.name and spec.label and len(spec.name) <= 40
    for fields in (spec.credentials, spec.settings):
        names = [f.name for f in fields]
        assert len(names) == len(set(names)), f"{spec.name}: a field name is used twice"
        assert all(f.kind in FIELD_KINDS for f in fields)
    assert all(f.kind == "secret" for f in spec.credentials if f.generated), "only secrets are generated"
    assert not any(f.generated for f in spec.settings), "settings are typed in; generated values are secrets"
    assert all(f.kind != "secret" for f in spec.settings), f"{spec.name}: a secret belongs in credentials"
    assert all(t == t.lower() and "/" in t for t in spec.content_types)
    for path in (spec.routes, spec.receiver):
        if path:
            assert registry.load(path) is not None
