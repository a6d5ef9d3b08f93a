"""The README's Layout section matches the tree: every path it names exists, every package is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_paths() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [m.group(1) for m in re.finditer(r"^(\S+/)\s", block + "\n", re.M)]


def test_every_path_in_the_layout_exists():
    paths = _layout_paths()
    assert len(paths) > 10
    missing = [p for p in paths if not (ROOT / p).is_dir()]
    assert missing == []


def test_every_package_and_top_level_folder_is_in_the_layout():
    named = set(_layout_paths())
    packages = {
        f"{p.parent.relative_to(ROOT).as_posix()}/"
        for p in (ROOT / "portal").rglob("__init__.py")
        if "migrations" not in p.parts and p.parent != ROOT / "portal" / "plugins" / "skeleton"
    }
    top = {"portal/", "jobs/", "tests/", "bench/", "docs/"}
    top |= {f"plugins/{p.name}/" for p in (ROOT / "plugins").iterdir() if p.is_dir()}
    top |= {f"examples/{p.name}/" for p in (ROOT / "examples").iterdir() if p.is_dir()}
    assert sorted((packages | top) - named) == []
