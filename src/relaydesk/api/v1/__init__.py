"""Collects `ROUTES` from every module of this package, so a new resource is one new file."""

from __future__ import annotations

import importlib
import pkgutil

ROUTE_HANDLERS: list = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    ROUTE_HANDLERS.extend(getattr(_module, "ROUTES", []))
