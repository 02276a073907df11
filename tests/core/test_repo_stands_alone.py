"""The repository stands alone: no tracked file points at a sibling folder of the team (`../shared`) or at
an absolute path of the machine it was written on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Machine paths: a home or work folder, a user's home, or the team's shared folder beside the checkout.
FORBIDDEN = re.compile(r"\.\./shared\b|(?<![\w.])/work/|/home/[a-z]|/root/|/Users/[A-Za-z]|\bshared/docs\b")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_mentions_a_machine_path():
    offenders = []
    for path in _tracked_files():
        if path.suffix in {".png", ".jpg", ".onnx", ".bin", ".gz", ".ico", ".woff2"} or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line) and path.name != "test_repo_stands_alone.py":
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:120]}")
    assert offenders == []


def test_the_pattern_catches_what_it_should():
    for bad in (
        "see ../shared/docs/DESIGN.md",
        "cd /work/main",
        "/home/alice/x",
        "in shared/docs/privacy.md",
    ):
        assert FORBIDDEN.search(bad), bad
    for fine in ("docs/privacy.md", "/api/v1/workspace", "a shared/data-free test", "/usr/bin/chromium"):
        assert not FORBIDDEN.search(fine), fine
