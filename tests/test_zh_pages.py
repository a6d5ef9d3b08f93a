"""Chinese pages say everything in Chinese: a crawl of every page each role can reach, in
zh-CN, that fails on any English word a user would read (text, button labels, placeholders,
titles and alternative text), and the same for the error pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.conftest import Browser
from tests.test_page_budget import crawl, login_demo_orders, staff_login, world  # noqa: F401

# Words that stay Latin in Chinese interfaces: file formats and protocol names a Chinese user
# reads as they are. Nothing else is allowed.
LATIN_IN_CHINESE = {
    "PDF",
    "PNG",
    "JPEG",
    "JPG",
    "WebP",
    "CSV",
    "API",
    "ID",
    "URL",
    "HTTPS",
    "HTTP",
    "JSON",
    "ZIP",
    "SHA",
    "KB",
    "MB",
    "Webhook",
    "OpenAPI",
    "HMAC",
    "JavaScript",
    "APPID",
    "PEM",
    "RSA",
    "BIC",
    "SQLite",
    # cloud consoles' own terms, shown as such in their Chinese consoles (SMS plugin settings)
    "AccessKey",
    "Secret",
    "SecretId",
    "SecretKey",
    "SdkAppId",
    "Redis",
}
LATIN = {w.upper() for w in LATIN_IN_CHINESE}
# A word: letters only, not glued to digits or to the characters of codes, addresses and
# numbers (order numbers, card codes, e-mail addresses, URLs, hashes keep their Latin).
WORD = re.compile(r"(?<![\w@./:#-])[A-Za-z][A-Za-z']+(?![\w@/:#-]|\.\w)")
VISIBLE_ATTRS = {"title", "placeholder", "alt", "aria-label"}
SKIP_TAGS = {"script", "style", "code", "pre", "kbd", "samp"}
VOID = {"input", "img", "br", "hr", "meta", "link", "source", "wbr"}


class Text(HTMLParser):
    """What a reader sees of a page: text outside scripts and code, and labelling attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip: list[str] = []  # open tags whose text is not Chinese prose

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        # code, scripts, text marked as another language (the language switch's "English") and
        # what is not to be translated (names and text that shops and buyers wrote)
        if (
            tag in SKIP_TAGS
            or not (a.get("lang") or "zh").startswith("zh")
            or a.get("translate") == "no"
        ):
            self._skip.append(tag)
        if tag in VOID:
            self.handle_endtag(tag)
        if self._skip:
            return
        for name in VISIBLE_ATTRS:
            if a.get(name):
                self.parts.append(a[name])
        if tag in ("input", "button") and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_in(html: str) -> list[str]:
    parser = Text()
    parser.feed(html)
    found = []
    for part in parser.parts:
        for word in WORD.findall(part):
            if word.upper() not in LATIN and word.strip("'") not in LATIN_IN_CHINESE:
                found.append(f"{word!r} in {part.strip()[:80]!r}")
    return found


def problems(pages: dict[str, dict]) -> list[str]:
    return [f"{url}: {hit}" for url, p in pages.items() for hit in english_in(p["html"])]


def test_the_detector_sees_english_and_lets_codes_through():
    assert english_in("<p>退款 Not Found</p>")
    assert english_in('<input placeholder="Order number">')
    assert english_in('<button type="submit" value="x">Send</button>')
    assert not english_in("<p>订单 DEMO0001，卡密 AB12-CD34，邮箱 a@b.example，PDF 文件</p>")
    assert not english_in("<script>var x = 'hello world';</script><code>refund-portal</code>")
    assert not english_in('<a href="/lang/en" lang="en">English</a><p>中文</p>')
    assert english_in('<a lang="en">English</a><p>but this</p>')
    assert not english_in('<p>商品：<bdi translate="no">Steam Wallet</bdi></p>')


def test_every_buyer_page_is_chinese(world, client):  # noqa: F811
    browser = Browser(client)
    numbers = login_demo_orders(browser)
    pages = crawl(client, ["/", *[f"/orders/{no}" for no in numbers]], "zh-CN")
    assert len(pages) > len(numbers)
    assert problems(pages) == []


@pytest.mark.parametrize(
    ("username", "start"),
    [("reviewer", "/review/"), ("supervisor", "/review/"), ("shop1", "/merchant/")],
)
def test_every_staff_page_is_chinese(world, client, username, start):  # noqa: F811
    browser = Browser(client)
    pages = crawl(client, ["/staff/login"], "zh-CN")
    staff_login(browser, username)
    pages.update(crawl(client, [start], "zh-CN"))
    assert len(pages) > 3
    assert problems(pages) == []


def test_error_pages_are_chinese(world, client):  # noqa: F811
    headers = {"Accept-Language": "zh-CN"}
    missing = client.get("/no/such/page", headers=headers)
    assert missing.status_code == 404
    assert english_in(missing.get_data(as_text=True)) == []
    wrong = client.post("/lookup", data={}, headers=headers)
    assert wrong.status_code in (400, 403, 422)
    assert english_in(wrong.get_data(as_text=True)) == []
