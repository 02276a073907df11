"""Collects `ROUTES` from every module of this package, so a new resource is one new file.

Each module also names its API token scope family (`SCOPE_FAMILY`, auth/scopes.py); it becomes the
`scope` option of every handler that does not declare its own, which `requires_token_scope` checks.
"""

from __future__ import annotations

import importlib
import pkgutil

ROUTE_HANDLERS: list = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _family = getattr(_module, "SCOPE_FAMILY", None)
    for _handler in getattr(_module, "ROUTES", []):
        if _family is not None:
            _handler.opt.setdefault("scope", _family)
        ROUTE_HANDLERS.append(_handler)
