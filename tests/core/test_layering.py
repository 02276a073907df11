"""Architecture rules that review alone would let slip (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "relaydesk"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_channel_adapters_never_touch_the_database():
    forbidden = ("relaydesk.models", "relaydesk.db", "relaydesk.actions", "sqlalchemy", "relaydesk.privacy")
    offenders = []
    for path in (SRC / "channels").rglob("*.py"):
        if "tests" in path.parts:
            continue
        for name in _imports(path):
            if name.startswith(forbidden):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


# Personal data is assigned only inside privacy/storage.py (and read back through it).
_PII_WRITE = re.compile(r"\.(content|email|phone|credentials|notes)\s*=(?!=)|\bdata=|\bbody=(?!storage\.)")


def test_personal_data_is_written_only_by_the_storage_layer():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("privacy", "web", "ai") or "tests" in rel.parts or rel.parts[0] == "channels":
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _PII_WRITE.search(code) and (
                "Message(" in code
                or "Contact(" in code
                or re.search(r"\b(msg|message|contact|inbox|att|attachment)\.", code)
            ):
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert offenders == []
