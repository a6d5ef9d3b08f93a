"""Size of the production install: a fresh virtual environment, the README's production
command in it (no test extras), then ``du -sm`` of its site-packages.

The empty environment's own site-packages (pip, and setuptools on Python 3.11) is measured
first and shown apart: the portal's install is the total less that. Goal: <= 200 MB (both
figures are judged against it).
Needs the package index (pip downloads what is not in its cache); takes a minute or two.
``production_closure`` (used by the tests) names every distribution the production install
pulls in, read from the installed metadata of this environment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

GOAL_MB = 200
ROOT = Path(__file__).resolve().parent.parent
#: the README's production install, as pip arguments relative to the repository root
PRODUCTION = [".[postgres]", "./plugins/alipay", "./plugins/wechat", "./plugins/bank", "gunicorn"]
#: what the production install must not pull in (perceptual hashing used to, through imagehash;
#: Babel, 34 MB of locale data, through Flask-Babel: the catalogues are read with gettext)
HEAVY = frozenset({"numpy", "scipy", "pywavelets", "babel"})
_COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "instance", "__pycache__", "*.egg-info", "build", "dist", ".*_cache"
)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _roots() -> list[tuple[str, frozenset[str]]]:
    """The production install's distributions and extras, read from ``PRODUCTION``."""
    roots = []
    for arg in PRODUCTION:
        if arg.startswith("."):
            path, _, extras = arg.partition("[")
            project = (ROOT / path / "pyproject.toml").read_text()
            m = re.search(r'^name\s*=\s*"([^"]+)"', project, re.MULTILINE)
            if not m:
                raise ValueError(f"no project name in {path}/pyproject.toml")
            roots.append((m.group(1), frozenset(extras.rstrip("]").split(",")) - {""}))
        else:
            roots.append((Requirement(arg).name, frozenset()))
    return roots


def production_closure() -> set[str]:
    """Every distribution (normalised name) the production install brings, through the
    requirements of the distributions installed here (markers evaluated for this Python)."""
    seen: set[str] = set()
    todo = [(_name(name), extras) for name, extras in _roots()]
    while todo:
        name, extras = todo.pop()
        key = name if not extras else f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            wanted = any(req.marker is None or req.marker.evaluate({"extra": e}) for e in extras)
            if req.marker is None or req.marker.evaluate({"extra": ""}) or wanted:
                todo.append((_name(req.name), frozenset(req.extras)))
    return {key.partition("[")[0] for key in seen}


def _du_mb(path: Path) -> int:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    if len(found) != 1:
        raise RuntimeError(f"no single site-packages under {venv}")
    return found[0]


@dataclass(frozen=True)
class InstallSize:
    """Sizes in MB of a fresh venv's site-packages, empty and with the production install."""

    python: str
    empty: int
    total: int
    largest: list[tuple[int, str]]


@dataclass(frozen=True)
class ProductionVenv:
    """A fresh venv holding the production install of a copy of the repository."""

    venv: Path
    src: Path
    empty_mb: int  # the empty venv's own site-packages (pip, setuptools), before the install

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site(self) -> Path:
        return _site_packages(self.venv)


@contextmanager
def production_venv() -> Iterator[ProductionVenv]:
    """Install the production set (``PRODUCTION``) into a fresh venv; removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="portal-install-"))
    try:
        src, venv = tmp / "src", tmp / "venv"
        shutil.copytree(ROOT, src, ignore=_COPY_IGNORE)  # builds write build/ into the source
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        empty = _du_mb(_site_packages(venv))
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PRODUCTION],
            cwd=src,
            check=True,
        )
        yield ProductionVenv(venv=venv, src=src, empty_mb=empty)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure() -> InstallSize:
    """Install the production set into a fresh venv; sizes in MB and the largest packages."""
    with production_venv() as prod:
        site = prod.site
        total = _du_mb(site)
        sizes = subprocess.run(
            ["du", "-sm", *[str(p) for p in site.iterdir()]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        largest = sorted(
            ((int(mb), Path(p).name) for mb, p in (line.split("\t") for line in sizes if line)),
            reverse=True,
        )[:10]
        python = subprocess.run(
            [str(prod.python), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return InstallSize(python=python, empty=prod.empty_mb, total=total, largest=largest)


def main() -> int:
    r = measure()
    total, empty = r.total, r.empty
    print(f"production install (Python {r.python}): pip install {' '.join(PRODUCTION)}")

    def verdict(mb: int) -> str:
        return f"goal <= {GOAL_MB}: {'ok' if mb <= GOAL_MB else 'OVER'}"

    print(f"  site-packages: {total} MB ({verdict(total)})")
    print(
        f"  less the empty venv's own (pip, setuptools): {empty} MB;"
        f" the portal's install: {total - empty} MB ({verdict(total - empty)})"
    )
    print("  largest: " + ", ".join(f"{name} {mb}" for mb, name in r.largest))
    heavy = sorted(HEAVY & production_closure())
    print(f"  heavy packages in the dependency closure: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
