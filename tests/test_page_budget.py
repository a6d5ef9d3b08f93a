"""The low-bandwidth budget, by crawling: every page a buyer can reach (every demo situation),
every merchant and reviewer page, in Chinese and English. Each page's HTML stays under 14 KB
gzipped (one round trip on a slow phone), loads nothing from another origin, uses no web
font and no inline script; static files are hashed, immutable and compressed."""

from __future__ import annotations

import gzip
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from portal.dev import demo
from portal.domain.policy import Kind, Reason
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser

BUDGET = 14 * 1024
ORIGIN = "http://portal.test"
MAX_PAGES = 250
SKIP = re.compile(r"^/(lang/|static/|evidence/|api/|callbacks/)")
# tags that make a browser fetch something, and the attribute it fetches
RESOURCE_ATTRS = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("img", "srcset"),
    ("source", "src"),
    ("source", "srcset"),
    ("iframe", "src"),
    ("video", "src"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("input", "src"),
}
FONT = re.compile(r"@font-face|\.woff2?\b|\.ttf\b|\.otf\b|fonts\.googleapis|as=\"?font", re.I)


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


class Page(HTMLParser):
    """Links to follow, resources loaded, inline scripts and handlers found on one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.style_urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "script" and not a.get("src"):
            self.inline_scripts += 1
        for name, value in attrs:
            if (tag, name) in RESOURCE_ATTRS and value:
                self.resources.extend(v.strip().split(" ")[0] for v in value.split(","))
            if name.startswith("on"):
                self.handlers.append(f"{tag}[{name}]")
            if name == "style" and value and "url(" in value:
                self.style_urls.append(value)


def other_origin(url: str) -> bool:
    parts = urlsplit(urljoin(ORIGIN + "/", url))
    return parts.scheme not in ("http", "https", "data") or (
        parts.scheme != "data" and f"{parts.scheme}://{parts.netloc}" != ORIGIN
    )


def crawl(client, starts: list[str], lang: str) -> dict[str, dict]:
    """Breadth-first over same-origin links from ``starts``; one entry per page."""
    headers = {"Accept-Language": lang, "Accept-Encoding": "br, gzip"}
    seen, queue, pages = set(starts), deque(starts), {}
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        r = client.get(url, headers=headers)
        if r.status_code in (301, 302, 303):
            continue
        assert r.status_code == 200, (url, r.status_code)
        if r.mimetype != "text/html":
            continue
        raw = client.get(url, headers={**headers, "Accept-Encoding": "identity"})
        html = raw.get_data(as_text=True)
        parsed = Page()
        parsed.feed(html)
        pages[url] = {
            "gz": gz(raw.data),
            "sent": len(r.data),
            "encoding": r.headers.get("Content-Encoding"),
            "csp": r.headers.get("Content-Security-Policy", ""),
            "page": parsed,
            "html": html,
        }
        for href in parsed.links:
            target = urldefrag(urljoin(ORIGIN + url, href))[0]
            if not target.startswith(ORIGIN + "/"):
                continue
            path = target[len(ORIGIN) :]
            if path not in seen and not SKIP.match(path):
                seen.add(path)
                queue.append(path)
    return pages


def check(pages: dict[str, dict]) -> list[str]:
    """Every broken rule, as readable lines (empty when all pages pass)."""
    problems = []
    for url, p in pages.items():
        page: Page = p["page"]
        if p["gz"] >= BUDGET:
            problems.append(f"{url}: {p['gz']} bytes gzipped (budget {BUDGET})")
        if p["encoding"] not in ("br", "gzip") and p["sent"] > 500:
            problems.append(f"{url}: sent uncompressed")
        problems += [
            f"{url}: loads {res} from another origin" for res in page.resources if other_origin(res)
        ]
        problems += [f"{url}: inline style url({s})" for s in page.style_urls]
        if FONT.search(p["html"]):
            problems.append(f"{url}: web font")
        if page.inline_scripts or page.handlers:
            problems.append(
                f"{url}: inline script {page.inline_scripts} / handlers {page.handlers}"
            )
        if "script-src 'self'" not in p["csp"] or "unsafe-inline" in p["csp"]:
            problems.append(f"{url}: CSP not strict: {p['csp']!r}")
    return problems


def login_demo_orders(browser: Browser) -> list[str]:
    from portal.extensions import db
    from portal.models import Order

    numbers = sorted(
        db.session.scalars(db.select(Order.order_no).where(Order.order_no.like("DEMO%")))
    )
    for no in numbers:
        r = browser.submit(
            "/",
            "/lookup",
            {"order_no": no, "contact": demo.CONTACT, "password": demo.QUERY_PASSWORD},
        )
        assert r.status_code == 303, no
    return numbers


def staff_login(browser: Browser, username: str) -> None:
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": demo.STAFF_PASSWORD}
    )
    assert r.status_code == 303, username


@pytest.fixture
def world(app, clock):
    from portal.extensions import db
    from portal.models import Merchant

    assert demo.load()
    star = db.session.scalar(db.select(Merchant).where(Merchant.slug == "star-cards"))
    for i in range(40):  # a busy queue for the reviewer, some of it on shop1's orders
        o = f.order(clock(), m=star if i % 8 == 0 else None)
        cases.apply_for_refund(
            o, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "y" * 300)
        )
    return app


def report(title: str, pages: dict[str, dict]) -> None:
    print(f"\n{title}: {len(pages)} pages, gzipped HTML bytes")
    for url, p in sorted(pages.items(), key=lambda kv: -kv[1]["gz"]):
        print(f"  {p['gz']:6d}  {url}")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_buyer_page_fits_the_budget(world, client, lang):
    browser = Browser(client)
    numbers = login_demo_orders(browser)
    pages = crawl(client, ["/", *[f"/orders/{no}" for no in numbers]], lang)
    report(f"buyer pages ({lang})", pages)
    kinds = {re.sub(r"/[A-Z]+\d+[\w-]*", "/N", u) for u in pages}
    # the crawl really reached the buyer's pages: lookup, order, apply, case (and its appeal)
    assert {"/", "/orders/N", "/orders/N/apply", "/cases/N"} <= kinds, kinds
    assert check(pages) == []


@pytest.mark.parametrize(
    ("username", "start", "must"),
    [
        ("reviewer", "/review/", {"/review/", "/review/cases/N", "/review/payouts/"}),
        ("shop1", "/merchant/", {"/merchant/", "/merchant/cases/N"}),
    ],
)
def test_every_staff_page_fits_the_budget(world, client, username, start, must):
    browser = Browser(client)
    login_page = crawl(client, ["/staff/login"], "zh-CN")
    staff_login(browser, username)
    pages = {**login_page, **crawl(client, [start], "zh-CN")}
    report(f"{username} pages", pages)
    kinds = {re.sub(r"/[A-Z]+\d+[\w-]*|/\d+", "/N", u) for u in pages}
    assert must <= kinds, kinds
    assert check(pages) == []


def test_first_visit_and_repeat_visit(world, client):
    """First visit: HTML + CSS + JS, compressed; repeat visit: only the HTML (assets immutable)."""
    browser = Browser(client)
    numbers = login_demo_orders(browser)
    url = f"/orders/{numbers[0]}/apply"
    headers = {"Accept-Encoding": "br, gzip", "Accept-Language": "zh-CN"}
    r = client.get(url, headers=headers)
    page = Page()
    page.feed(client.get(url, headers={"Accept-Encoding": "identity"}).get_data(as_text=True))
    total, parts = len(r.data), {"html": len(r.data)}
    assets = [u for u in page.resources if u.startswith("/static/")]
    assert len(assets) >= 3  # css, htmx, upload.js
    for asset in assets:
        a = client.get(asset, headers=headers)
        assert a.status_code == 200 and re.search(r"\.[0-9a-f]{10}\.(css|js)$", asset), asset
        assert a.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert a.headers["Content-Encoding"] == "br"
        parts[asset] = len(a.data)
        total += len(a.data)
        css = a.get_data() if asset.endswith(".css") else b""
        assert b"url(" not in css and not FONT.search(css.decode("latin-1"))
    print(f"\nfirst visit of the apply page: {total} bytes {parts}")
    assert total < 40 * 1024
    # gzip for clients without brotli, identity for neither
    g = client.get(assets[0], headers={"Accept-Encoding": "gzip"})
    assert g.headers["Content-Encoding"] == "gzip" and gzip.decompress(g.data)
    # a changed file gets a new name; the old hashed name is no longer immutable
    stale = re.sub(r"\.[0-9a-f]{10}\.", ".0000000000.", assets[0])
    assert "immutable" not in client.get(stale).headers["Cache-Control"]
