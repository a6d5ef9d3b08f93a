"""The templates themselves: each form names its URL once, and no template line runs on.

A form that works with and without JavaScript needs its URL twice in the HTML (``action`` for
the plain POST, ``hx-post`` for htmx); the ``posts_to`` macro in ``_macros.html`` writes both
from one ``url_for``, so a template never spells the pair and the two cannot drift apart.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from portal.extensions import db
from tests import factories as f
from tests.conftest import Browser
from tests.test_buyer_flow import login_order

TEMPLATES = Path(__file__).resolve().parents[1] / "portal" / "templates"
MAX_LINE = 120  # [tool.djlint] max_line_length
HX_VERBS = re.compile(r"(?<![\w-])(?:data-)?hx-(get|post|put|patch|delete)\s*=", re.I)
ACTION = re.compile(r"(?<![\w-])action\s*=", re.I)
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def form_tags(source: str) -> list[tuple[int, str]]:
    """Each ``<form ...>`` start tag in a template's source, with its line number.

    The tag ends at the first ``>`` outside Jinja delimiters and quoted attribute values.
    """
    found = []
    for m in re.finditer(r"<form\b", source, re.I):
        i, quote = m.end(), None
        while i < len(source):
            if quote is None and source.startswith(("{{", "{%", "{#"), i):
                end = JINJA.match(source, i)
                i = end.end() if end else len(source)
                continue
            c = source[i]
            if quote:
                quote = None if c == quote else quote
            elif c in "\"'":
                quote = c
            elif c == ">":
                break
            i += 1
        found.append((source.count("\n", 0, m.start()) + 1, source[m.start() : i + 1]))
    return found


def url_twice(source: str) -> list[str]:
    """Forms that spell an htmx verb attribute beside (or instead of) their ``action``."""
    problems = []
    for line, tag in form_tags(source):
        names = QUOTED.sub('""', JINJA.sub("", tag))  # attribute names, not values
        verbs = HX_VERBS.findall(names)
        if verbs:
            also = " beside action" if ACTION.search(names) else ""
            problems.append(f"line {line}: hx-{verbs[0]}{also}: use {{{{ posts_to(url) }}}}")
    return problems


def templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_the_form_scanner_finds_the_url_spelled_twice():
    twice = """{% if x %}<form method="post" action="{{ url_for('a', b='>') }}"
      hx-post="{{ url_for('a', b='>') }}" hx-target="#p">{{ f.hidden_tag() }}</form>{% endif %}"""
    assert url_twice(twice) == ["line 1: hx-post beside action: use {{ posts_to(url) }}"]
    assert url_twice('<form hx-put="/x" class="a">') == ["line 1: hx-put: use {{ posts_to(url) }}"]
    once = """<form {{ posts_to(url_for('a')) }} hx-target="#p" data-note="hx-post=">
      <button hx-post="/not-a-form">x</button></form><form method="post" action="/b">"""
    assert url_twice(once) == []
    assert [t for _, t in form_tags(once)][1] == '<form method="post" action="/b">'


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_form_names_its_url_once(path):
    assert url_twice(path.read_text(encoding="utf-8")) == []


def test_template_lines_stay_short():
    long = [
        f"{p.relative_to(TEMPLATES)}:{n}: {len(line)} characters"
        for p in templates()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert long == []


def test_posts_to_writes_the_same_url_in_action_and_hx_post(app):
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "_macros.html" import posts_to %}<form {{ posts_to(url) }}>'
        ).render(url='/a?b=1&c="2"')
    assert html == (
        '<form method="post" action="/a?b=1&amp;c=&#34;2&#34;" hx-post="/a?b=1&amp;c=&#34;2&#34;">'
    )


class Forms(HTMLParser):
    """The attributes of every form on a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.forms.append(dict(attrs))


def htmx_forms(html: str) -> list[dict[str, str | None]]:
    parsed = Forms()
    parsed.feed(html)
    return [a for a in parsed.forms if any(k in a for k in ("hx-post", "hx-put", "hx-delete"))]


def test_rendered_htmx_forms_post_to_their_action(app, client, clock):
    """The buyer's reveal and withdraw forms and the reviewer's panel, as the browser gets them."""
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases

    order = f.order(clock(), codes=1)
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    f.staff("formrev")
    db.session.commit()
    buyer = Browser(client)
    login_order(buyer, order)
    pages = [f"/orders/{order.order_no}", f"/cases/{case.case_no}"]
    found = {url: htmx_forms(buyer.get(url).get_data(as_text=True)) for url in pages}
    staff = Browser(app.test_client())
    r = staff.submit(
        "/staff/login", "/staff/login", {"username": "formrev", "password": "password-123"}
    )
    assert r.status_code == 303
    url = f"/review/cases/{case.case_no}"
    found[url] = htmx_forms(staff.get(url).get_data(as_text=True))
    assert all(found.values()), found  # each page has htmx forms to check
    for url, forms in found.items():
        for form in forms:
            assert form["method"] == "post" and form["action"] == form["hx-post"], (url, form)
