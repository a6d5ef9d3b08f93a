"""Open redirects: a hostile table of targets, and a rule that every redirect built from
request data goes through ``portal.views.redirects.safe_target``.

The rule is checked over the source with ``ast`` (like tests/test_layout_rules.py) and on
small samples that break it, so a checker that finds nothing cannot pass unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import pytest

from portal.views.redirects import safe_target, same_site_path
from tests import factories as f
from tests.conftest import Browser

ROOT = Path(__file__).resolve().parents[1]

# what a browser would read as another site (or what we refuse to reason about)
HOSTILE = [
    "//evil.example/",
    "///evil.example/",
    "////evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\x00/evil.example/",
    "/\x0b/evil.example/",
    "/\x7f/evil.example/",
    "/\x85/evil.example/",
    " //evil.example/",
    "\t//evil.example/",
    "/path ",
    "/\u2028/x",
    "/\u3000/x",
    "/\u200b/x",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,x",
    "evil.example",
    "./x",
    "../x",
    "?x=1",
    "#x",
    "",
    "/%09/evil.example/",  # double-encoded: arrives as the text %09 after one decoding
    "/%0A/x",
    "/%0d/x",
    "/%5C/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/" + "a" * 3000,
]
SAFE = ["/", "/orders/A1", "/orders/A1?x=1#code-3", "/cases/%E6%B5%8B", "/review/", "/测试"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_fall_back(target):
    assert same_site_path(target) is None
    assert safe_target(target, "/home") == "/home"


@pytest.mark.parametrize("target", SAFE)
def test_same_site_paths_are_kept(target):
    assert safe_target(target, "/home") == target


@pytest.mark.parametrize("value", [None, 5, b"/x", ["/x"]])
def test_non_strings_fall_back(value):
    assert safe_target(value, "/home") == "/home"


# what arrives over HTTP: the query string is percent-decoded once by the server
WIRE = [
    "/%09/evil.example/",
    "/%0A/x",
    "/%0D%0A/evil.example",
    "/%5C/evil.example",
    "%2F%2Fevil.example",
    "/%2509/evil.example/",
    "/%00/x",
    "https:%2F%2Fevil.example",
    "/%E2%80%A8/x",
    "%",
]


# a control character in a query parameter is refused before any view runs (400, a sentence
# naming it, no Location at all: tests/test_hostile_input.py); the rest fall back
CONTROL = {"/%09/evil.example/", "/%0A/x", "/%0D%0A/evil.example", "/%00/x"}


def assert_stays(r, fallback: str, wire: str) -> None:
    if wire in CONTROL:
        assert r.status_code == 400, r.status_code
        assert "Location" not in r.headers
    else:
        assert r.status_code == 303, r.status_code
        assert r.headers["Location"] == fallback, r.headers["Location"]


@pytest.mark.parametrize("wire", WIRE)
def test_language_switch_never_leaves_the_site(app, client, wire):
    assert_stays(client.get(f"/lang/en?next={wire}"), "/", wire)


@pytest.mark.parametrize("wire", WIRE)
def test_staff_login_never_leaves_the_site(app, browser: Browser, wire):
    f.staff("rev1")
    r = browser.submit(
        "/staff/login",
        f"/staff/login?next={wire}",
        {"username": "rev1", "password": "password-123"},
    )
    assert_stays(r, "/review/", wire)
    if r.status_code == 303:
        browser.submit("/review/", "/staff/logout", {})


def test_same_site_next_is_still_followed(app, browser: Browser, client):
    f.staff("rev1")
    r = browser.submit(
        "/staff/login",
        "/staff/login?next=" + quote("/review/tickets?x=1"),
        {"username": "rev1", "password": "password-123"},
    )
    assert r.headers["Location"] == "/review/tickets?x=1"
    assert client.get("/lang/en?next=/orders/A1").headers["Location"] == "/orders/A1"
    assert client.get("/lang/en?next=/%ZZ").headers["Location"] == "/%ZZ"  # odd, but a path


# -- the rule: no redirect from request data without the helper ------------------------------

REDIRECTORS = {"redirect"}
# signed_url: a URL the evidence store signed for one object, after the view checked who asks
# (portal/views/evidence_files.py); it leaves the site on purpose and nothing of it comes from
# the request
SAFE_CALLS = {"url_for", "safe_target", "signed_url"}
LOCATION_HEADERS = {"location", "hx-redirect", "hx-location", "hx-push-url", "refresh"}


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        fn = node.func
        if isinstance(fn, ast.Name):
            return fn.id
        if isinstance(fn, ast.Attribute):
            return fn.attr
    return ""


def _starts_inert(node: ast.AST) -> bool:
    """A suffix that cannot change where a URL goes: a constant, or text after ``#``/``?``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value[:1] in ("#", "?") or ("/" not in node.value and "\\" not in node.value)
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return isinstance(first, ast.Constant) and str(first.value)[:1] in ("#", "?")
    return False


class _Checker:
    def __init__(self, trees: dict[str, ast.Module]) -> None:
        self.trees = trees
        self.problems: list[str] = []
        # function name -> parameter names that reach a redirect unchecked
        self.wrappers: dict[str, set[str]] = {}

    def safe(self, node: ast.AST, fn: ast.FunctionDef | None, seen: frozenset[str]) -> bool:
        if _call_name(node) in SAFE_CALLS:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.startswith("/") and not node.value.startswith(("//", "/\\"))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, fn, seen) and _starts_inert(node.right)
        if isinstance(node, ast.Name) and fn is not None and node.id not in seen:
            params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            if node.id in params:
                self.wrappers.setdefault(fn.name, set()).add(node.id)
                return True  # checked at every call site of the wrapper
            values = [
                n.value
                for n in ast.walk(fn)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)
            ]
            return bool(values) and all(self.safe(v, fn, seen | {node.id}) for v in values)
        return False

    def run(self) -> list[str]:
        for name, tree in self.trees.items():
            for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
                for node in ast.walk(fn):
                    self._check_node(name, node, fn)
        # the wrappers' call sites, with what they pass for the redirected parameter
        for name, tree in self.trees.items():
            funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
            for fn in funcs:
                for node in ast.walk(fn):
                    callee = _call_name(node)
                    if callee not in self.wrappers or not isinstance(node, ast.Call):
                        continue
                    target = self._wrapper_def(callee)
                    if target is None:
                        continue
                    positional = [a.arg for a in target.args.args]
                    for pname in self.wrappers[callee]:
                        arg = None
                        if pname in positional and positional.index(pname) < len(node.args):
                            arg = node.args[positional.index(pname)]
                        for kw in node.keywords:
                            if kw.arg == pname:
                                arg = kw.value
                        if arg is not None and not self.safe(arg, fn, frozenset()):
                            self.problems.append(
                                f"{name}:{node.lineno}: {callee}() is given a target "
                                "that is not url_for(...) or safe_target(...)"
                            )
        return self.problems

    def _wrapper_def(self, name: str) -> ast.FunctionDef | None:
        for tree in self.trees.values():
            for n in ast.walk(tree):
                if isinstance(n, ast.FunctionDef) and n.name == name:
                    return n
        return None

    def _check_node(self, name: str, node: ast.AST, fn: ast.FunctionDef) -> None:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and _call_name(node) in REDIRECTORS:
            target = node.args[0] if node.args else None
            for kw in node.keywords:
                if kw.arg == "location":
                    target = kw.value
            if target is None or not self.safe(target, fn, frozenset()):
                self.problems.append(f"{name}:{line}: redirect() to an unchecked target")
        # resp.headers["Location"] = ..., headers={"Location": ...}
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.slice, ast.Constant)
                    and str(t.slice.value).lower() in LOCATION_HEADERS
                    and not self.safe(node.value, fn, frozenset())
                ):
                    self.problems.append(f"{name}:{line}: {t.slice.value} header unchecked")
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(k, ast.Constant)
                    and str(k.value).lower() in LOCATION_HEADERS
                    and not self.safe(v, fn, frozenset())
                ):
                    self.problems.append(f"{name}:{line}: {k.value} header unchecked")


def unchecked_redirects(sources: dict[str, str]) -> list[str]:
    """Redirects (and Location-like headers) whose target may come from the request."""
    return _Checker({n: ast.parse(s) for n, s in sources.items()}).run()


def _tree_sources() -> dict[str, str]:
    files = sorted((ROOT / "portal").rglob("*.py")) + sorted((ROOT / "plugins").rglob("*.py"))
    return {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for p in files
        if "skeleton" not in p.parts and "tests" not in p.parts
    }


def test_every_redirect_in_the_tree_is_checked():
    sources = _tree_sources()
    assert any("redirect(" in s for s in sources.values())  # the scan sees the views
    assert unchecked_redirects(sources) == []


BAD = {
    "next_arg": "def v():\n    return redirect(request.args.get('next'))\n",
    "via_name": "def v():\n    t = request.args['next'] or '/'\n    return redirect(t)\n",
    "mixed_assign": "def v():\n    t = url_for('a')\n    if x:\n        t = request.referrer\n"
    "    return redirect(t)\n",
    "appended": "def v():\n    return redirect(url_for('buyer.index') + request.args['p'])\n",
    "fstring": "def v():\n    return redirect(f\"/{request.args['p']}\")\n",
    "referrer": "def v():\n    return redirect(request.referrer or '/')\n",
    "keyword": "def v():\n    return redirect(location=request.form['next'])\n",
    "header": "def v(resp):\n    resp.headers['Location'] = request.args['n']\n",
    "hx_header": "def v():\n    return '', 204, {'HX-Redirect': request.args['n']}\n",
    "protocol_relative": "def v():\n    return redirect('//evil.example')\n",
    "wrapper": "def go(url):\n    return redirect(url)\n\n"
    "def v():\n    return go(request.args['next'])\n",
    "wrapper_kw": "def go(x, url=''):\n    return redirect(url)\n\n"
    "def v():\n    return go(1, url=request.values['next'])\n",
}
GOOD = {
    "url_for": "def v():\n    return redirect(url_for('a', n=request.args['n']))\n",
    "fragment": "def v(c):\n    return redirect(url_for('a') + f'#code-{c.id}')\n",
    "helper": "def v():\n    return redirect(safe_target(request.args.get('next'), '/'))\n",
    "wrapper_ok": "def go(url):\n    return redirect(url)\n\n"
    "def v():\n    return go(url_for('a') + '#x')\n",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_rule_catches_a_new_unchecked_redirect(name):
    assert unchecked_redirects({name: BAD[name]}), name


@pytest.mark.parametrize("name", sorted(GOOD))
def test_the_rule_accepts_checked_redirects(name):
    assert unchecked_redirects({name: GOOD[name]}) == [], name
