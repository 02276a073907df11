"""Settings load from the environment and a TOML file, validate types, and are all documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relaydesk.config import ConfigError, load_settings, setting_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| `RELAYDESK_([A-Z_]+)`", DOC.read_text(), flags=re.M)) - {"CONFIG"}
    assert documented == {name.upper() for name in setting_names()}


def test_environment_overrides_file(tmp_path):
    file = tmp_path / "relaydesk.toml"
    file.write_text('port = 9000\nlog_level = "DEBUG"\n')
    settings = load_settings({"RELAYDESK_CONFIG": str(file), "RELAYDESK_PORT": "9100"})
    assert settings.port == 9100
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RELAYDESK_PORT": "eighty"}, "RELAYDESK_PORT"),
        ({"RELAYDESK_DEMO": "maybe"}, "RELAYDESK_DEMO"),
        ({"RELAYDESK_CONFIG": "/nonexistent/relaydesk.toml"}, "no such file"),
    ],
)
def test_bad_values_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_unknown_file_keys_are_refused(tmp_path):
    file = tmp_path / "relaydesk.toml"
    file.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"RELAYDESK_CONFIG": str(file)})
