"""Architecture rules that review alone would let slip (docs/architecture.md)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import typing
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "relaydesk"


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (function-level and TYPE_CHECKING imports count too: they
    are dependencies all the same). `from package import submodule` depends on the submodule only."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if _is_module(full) else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _is_module(name: str) -> bool:
    if not name.startswith("relaydesk."):
        return False
    relative = Path(*name.split(".")[1:])
    return (SRC / relative).with_suffix(".py").is_file() or (SRC / relative / "__init__.py").is_file()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py") if "tests" not in p.relative_to(SRC).parts}


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """Modules under `folder` that import any module under one of the `forbidden` prefixes."""
    found = []
    for name, path in _modules().items():
        if not (name == f"relaydesk.{folder}" or name.startswith(f"relaydesk.{folder}.")):
            continue
        for imported in sorted(_imports(path)):
            if any(imported == f or imported.startswith(f + ".") for f in forbidden):
                found.append(f"{name} imports {imported}")
    return found


def test_no_import_cycles_between_modules():
    """The package's modules form no import circle (one existed between runtime, inbound/intake and jobs/):
    every dependency points one way, so a layer can be understood and tested below the ones above it."""
    modules = _modules()
    graph = {
        name: {dep for dep in _imports(path) if dep in modules and dep != name}
        for name, path in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_read_path_never_climbs_back_to_the_api():
    assert _offenders("queries", ("relaydesk.api", "relaydesk.web", "relaydesk.server")) == []


def test_jobs_never_depend_on_the_runtime_or_the_doors():
    assert (
        _offenders(
            "jobs", ("relaydesk.runtime", "relaydesk.api", "relaydesk.web", "relaydesk.inbound.intake")
        )
        == []
    )


def test_the_inbound_door_never_reaches_into_job_handlers_or_the_dispatcher():
    """The intake hands over through inbound/handover.py; the dispatcher is only a `Taker` to it. (The
    webhook door, like the API, may use the runtime; the intake and the hand-over may not.)"""
    assert _offenders("inbound.intake", ("relaydesk.runtime",)) == []
    assert _offenders("inbound.handover", ("relaydesk.runtime", "relaydesk.jobs")) == []
    assert (
        _offenders(
            "inbound", ("relaydesk.jobs.handlers", "relaydesk.jobs.dispatcher", "relaydesk.jobs.registry")
        )
        == []
    )


def test_actions_never_depend_on_jobs_handlers_runtime_or_doors():
    forbidden = ("relaydesk.jobs.handlers", "relaydesk.jobs.dispatcher", "relaydesk.runtime", "relaydesk.api")
    assert _offenders("actions", (*forbidden, "relaydesk.web", "relaydesk.inbound.intake")) == []


def test_the_dispatcher_stays_generic():
    """The dispatcher runs whatever is registered: it knows no domain (the AI warm-up is a start hook
    registered by jobs/handlers/ai.py, not a method of the dispatcher)."""
    forbidden = ("relaydesk.actions", "relaydesk.ai", "relaydesk.jobs.handlers", "relaydesk.channels")
    assert _offenders("jobs.dispatcher", forbidden) == []
    assert _offenders("jobs.registry", forbidden) == []


def test_handlers_receive_services_never_the_runtime():
    from relaydesk.jobs.registry import JobContext
    from relaydesk.jobs.services import Services
    from relaydesk.models.jobs import Job

    hints = typing.get_type_hints(JobContext, localns={"Services": Services, "Job": Job})
    assert hints["services"] is Services
    assert not any("runtime" in field.name for field in dataclasses.fields(JobContext))
    assert not any(
        field.type in ("Runtime", "relaydesk.runtime.Runtime") for field in dataclasses.fields(Services)
    )
    from relaydesk.jobs.dispatcher import Dispatcher

    assert next(iter(inspect.signature(Dispatcher).parameters)) == "services"
    mentions = [
        f"{path.relative_to(SRC)}:{lineno}"
        for path in (SRC / "jobs").rglob("*.py")
        for lineno, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.runtime\b|: Runtime\b", line.split("#", 1)[0])
    ]
    assert mentions == []


def _is_channel_door(path: Path) -> bool:
    """A channel's `routes` module (`channels/<x>/routes.py` or `routes/`): HTTP handlers the server mounts
    (the widget's visitor API), a door like `api/`, so it may use the runtime and the actions."""
    rel = path.relative_to(SRC / "channels").parts
    return len(rel) >= 2 and (rel[1] == "routes.py" or rel[1] == "routes")


def test_channel_specs_never_touch_the_database():
    forbidden = ("relaydesk.models", "relaydesk.db", "relaydesk.actions", "sqlalchemy", "relaydesk.privacy")
    offenders = []
    for path in (SRC / "channels").rglob("*.py"):
        if "tests" in path.parts or _is_channel_door(path):
            continue
        for name in _imports(path):
            if name.startswith(forbidden):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


# Personal data is assigned only inside privacy/storage/ (and read back through it).
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
