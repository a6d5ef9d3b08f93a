"""Chinese pages say everything in Chinese: a crawl of every page each role can reach, in
zh-CN, that fails on any English word a user would read (text, button labels, placeholders,
titles and alternative text), and the same for the error pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from tests.conftest import Browser, csrf_from
from tests.test_page_budget import (  # noqa: F401
    check,
    crawl,
    login_demo_orders,
    staff_login,
    world,
)

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
    # the lists' filters too (a form, not a link the crawl would follow): every filter set,
    # one matching nothing, and the first page of each state
    filtered = LIST_FILTERS[start]
    pages.update(crawl(client, [start, *filtered], "zh-CN"))
    assert set(filtered) <= set(pages)
    assert len(pages) > 3
    assert problems(pages) == []
    # a damaged page link and a filter that cannot be read are refused in Chinese too
    for bad in ("?after=garbled", "?before=n.1&after=n.2", "?state=nope"):
        refused = client.get(start + bad, headers={"Accept-Language": "zh-CN"})
        assert refused.status_code == 400
        assert english_in(refused.get_data(as_text=True)) == []


LIST_FILTERS = {
    "/review/": [
        "/review/?q=RF&shop=star-cards&state=submitted&reason=unusable&min=0.01&max=1000"
        "&overdue=1&appeal=1&assigned=none",
        "/review/?q=DEMO1008",
        "/review/?assigned=me",
        "/review/?channel=fakepay",
        *[f"/review/?state={s}" for s in ("submitted", "needs_info", "appealed", "approved")],
        "/review/?min=5",
    ],
    "/merchant/": [
        "/merchant/?q=RF&state=submitted&reason=unusable&overdue=1",
        "/merchant/?q=DEMO1008",
        *[f"/merchant/?state={s}" for s in ("submitted", "needs_info", "refunding")],
    ],
}


def test_error_pages_are_chinese(world, client):  # noqa: F811
    headers = {"Accept-Language": "zh-CN"}
    missing = client.get("/no/such/page", headers=headers)
    assert missing.status_code == 404
    assert english_in(missing.get_data(as_text=True)) == []
    wrong = client.post("/lookup", data={}, headers=headers)
    assert wrong.status_code in (400, 403, 422)
    assert english_in(wrong.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    ("lang", "required", "too_long"),
    [
        ("zh-CN", "该字段是必填字段。", "字段长度不能超过 64 个字符。"),
        ("en", "This field is required.", "Field cannot be longer than 64 characters."),
    ],
)
def test_form_errors_are_in_the_readers_language(client, lang, required, too_long):
    # WTForms' own messages (a required field, a length) come from its catalogues
    headers = {"Accept-Language": lang}
    page = client.get("/", headers=headers).get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "order_no": "", "contact": "x", "password": "p"}
    empty = client.post("/lookup", data=data, headers=headers)
    long = client.post("/lookup", data={**data, "order_no": "N" * 65}, headers=headers)
    assert (empty.status_code, long.status_code) == (422, 422)
    assert required in empty.get_data(as_text=True)
    assert too_long in long.get_data(as_text=True)
    if lang == "zh-CN":
        assert english_in(empty.get_data(as_text=True)) == []
        assert english_in(long.get_data(as_text=True)) == []


# -- timelines: every kind of event the system writes, read by each role ------------------

CARD = {"account_name": "张三", "account_no": "6222020200112233445", "bank_name": "中国工商银行"}
#: a sentence each timeline must show in Chinese (not only "no English": the words are there)
EXPECTED = {
    "auto": "已自动同意退款",
    "offer": "已按协商达成的金额同意退款",
    "bank_pending": "等待下一批银行付款和银行对账单",
    "legacy": "旧记录原文",
}


@pytest.fixture
def timelines(app, clock, tmp_path):
    """Cases whose timelines hold each kind of event: an automatic approval, an accepted
    offer, refunds through Alipay (its synchronous answer), WeChat Pay (a notification) and
    a bank statement, a bank payout waiting for its statement (asked again and again), card
    codes not viewed and taken back, and older rows that still hold English sentences."""
    from refund_portal_alipay.simulator import AlipaySimulator
    from refund_portal_bank.simulator import statement_for
    from refund_portal_wechat.simulator import WechatSimulator

    from portal.domain.policy import Kind, Reason
    from portal.domain.states import Role
    from portal.extensions import db
    from portal.models import Event, Payout, RefundCase
    from portal.plugins.channels import Notification, ResultStatus
    from portal.plugins.startup import init_plugins
    from portal.services.actors import BUYER, Actor
    from portal.services.money import batches, settlement
    from portal.services.refunds import cases, disputes
    from tests import factories as f
    from tests.test_settlement import work

    keys = tmp_path / "keys"
    with AlipaySimulator(keys) as alipay:
        wechat = WechatSimulator(str(keys), settle_delay_s=3600, hang_s=1).start()
        try:
            app.config.update(
                DEV_KEYS_DIR=str(keys),
                ALIPAY_GATEWAY_URL=alipay.url,
                WECHAT_GATEWAY_URL=wechat.url,
                WECHAT_TIMEOUT=2,
            )
            init_plugins(app)
            star = f.merchant("star-zh")
            reviewer_user = f.staff("rev-zh")
            f.staff("shop-zh", role="merchant", merchant_slug="star-zh")
            reviewer = Actor(Role.REVIEWER, reviewer_user.id, "rev-zh")
            merchant = Actor(Role.MERCHANT, None, "shop-zh", merchant_id=star.id)

            def case_on(order, kind=Kind.REFUND_ONLY, reason=Reason.UNUSABLE):
                return cases.apply_for_refund(
                    order, cases.ApplyInput(kind, reason, order.amount_fen, "卡密无法使用")
                )

            made = {}
            # an automatic approval, refunded through the test channel
            late = f.order(clock(), m=star, delivered_after=None)
            made["auto"] = case_on(late, reason=Reason.NOT_DELIVERED)
            # an offer accepted by the buyer
            haggled = f.order(clock(), m=star)
            made["offer"] = case_on(haggled)
            offer = disputes.make_offer(made["offer"], merchant, 5000, "先退一半")
            disputes.accept_offer(made["offer"], BUYER, offer.id)
            # Alipay and WeChat Pay, through their simulators
            for channel in ("alipay", "wechat"):
                order = f.order(clock(), m=star, channel=channel)
                sim = alipay if channel == "alipay" else wechat
                sim.add_trade(
                    order.payment.gateway_trade_id,
                    order.payment.merchant_trade_no,
                    order.amount_fen,
                )
                made[channel] = case_on(order)
                cases.approve(made[channel], reviewer)
            # the bank: one paid by a statement, one still waiting for it
            for name in ("bank", "bank_pending"):
                made[name] = case_on(f.order(clock(), m=star, channel="bank", extra=CARD))
                cases.approve(made[name], reviewer)
            # card codes never viewed, taken back on a return
            made["codes"] = case_on(f.order(clock(), m=star, codes=2), Kind.RETURN_AND_REFUND)
            cases.approve(made["codes"], reviewer)
            work(app)

            def payout_of(name):
                return db.session.scalar(select(Payout).where(Payout.case_id == made[name].id))

            wechat_payout = payout_of("wechat")
            assert wechat_payout.state == "pending"  # accepted; the result comes by notification
            settlement.apply_notification(
                "wechat",
                Notification(
                    wechat_payout.idempotency_key,
                    ResultStatus.SUCCEEDED,
                    wechat_payout.amount_fen,
                    "WXREF1",
                    "",
                ),
            )
            # the bank payout waiting for its statement is asked about again and again
            pending = payout_of("bank_pending")
            for _ in range(4):
                clock.advance(minutes=5)
                settlement.settle(pending.id)
            batch = batches.export_batch(reviewer, "bank", "pain.001")
            only_first = statement_for(batch.content)
            booked = batches.import_statement(
                reviewer, "bank", _only(only_first, payout_of("bank"))
            )
            assert booked.applied == 1
            # rows an older version wrote with English sentences
            auto = made["auto"]
            for role, kind, to, text in [
                ("system", "transition", "approved", _OLD_AUTO),
                ("buyer", "transition", "approved", "offer #2 accepted"),
                (
                    "system",
                    "payout_pending",
                    "",
                    "waiting for the next bank batch export and the bank statement",
                ),
                ("system", "payout_succeeded", "", "refund SUCCESS"),
                ("system", "escalated", "", "the reviewer was slow today"),
            ]:
                db.session.add(
                    Event(
                        case_id=auto.id,
                        order_id=auto.order_id,
                        kind=kind,
                        actor_role=role,
                        to_state=to,
                        reason=text,
                        data={},
                        created_at=clock(),
                    )
                )
            db.session.commit()
            db.session.expire_all()
            states = {k: db.session.get(RefundCase, c.id).state for k, c in made.items()}
            assert states == {
                "auto": "refunded",
                "offer": "refunded",
                "alipay": "refunded",
                "wechat": "refunded",
                "bank": "refunded",
                "bank_pending": "refunding",
                "codes": "approved",
            }
            yield {k: db.session.get(RefundCase, c.id) for k, c in made.items()}
        finally:
            wechat.stop()


_OLD_AUTO = "The order was not delivered by 2026-03-09 02:05, as its own times show."


def _only(statement: bytes, payout) -> bytes:
    """The statement with only ``payout``'s line (the other payout stays waiting)."""
    import re as _re

    entries = _re.findall(rb"<Ntry>.*?</Ntry>", statement, flags=_re.S)
    keep = [e for e in entries if payout.idempotency_key.encode() in e]
    assert len(keep) == 1
    for e in entries:
        if e not in keep:
            statement = statement.replace(e, b"")
    return statement


def _case_pages(pages: dict[str, dict], marker: str) -> dict[str, str]:
    return {u: p["html"] for u, p in pages.items() if marker in u}


def test_every_timeline_is_chinese_for_each_role(timelines, client):
    from tests import factories as f

    browser = Browser(client)
    # the buyer looks up each order and reads its case
    for case in timelines.values():
        r = browser.submit(
            "/",
            "/lookup",
            {"order_no": case.order.order_no, "contact": f.CONTACT, "password": f.PASSWORD},
        )
        assert r.status_code == 303
    buyer = crawl(client, [f"/cases/{c.case_no}" for c in timelines.values()], "zh-CN")
    # the merchant and the reviewer read the same cases
    staff = {}
    for username, prefix in (("shop-zh", "/merchant/cases/"), ("rev-zh", "/review/cases/")):
        browser = Browser(client)
        r = browser.submit(
            "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
        )
        assert r.status_code == 303
        staff[username] = crawl(client, [prefix + c.case_no for c in timelines.values()], "zh-CN")
    for role, pages in (("buyer", buyer), *staff.items()):
        assert problems(pages) == [], role
        assert check(pages) == [], role  # and within the page budget
        case_pages = [
            p["html"] for u, p in pages.items() if any(c.case_no in u for c in timelines.values())
        ]
        assert len(case_pages) >= len(timelines), role
        text = "".join(case_pages)
        for name, sentence in EXPECTED.items():
            assert sentence in text, (role, name)
        assert "已收回未查看的卡密" in text  # the return took the unviewed codes back
        gateway = "支付渠道原文" in text
        assert gateway == (role == "rev-zh"), role  # the gateway's words: staff only
    from portal.domain import labels
    from portal.extensions import db
    from portal.models import Event

    kinds = set(db.session.scalars(select(Event.kind).where(Event.case_id.is_not(None))))
    assert {"transition", "payout_pending", "payout_succeeded", "codes_withdrawn"} <= kinds
    assert kinds - {"transition"} <= set(labels.EVENT_LABELS), "an event kind without words"
    reviewer_text = "".join(p["html"] for p in staff["rev-zh"].values())
    assert "尚无查看记录" in reviewer_text  # the checklist of the return case
    assert "refund SUCCESS" in reviewer_text and "refunded" in reviewer_text


def test_one_note_reads_in_each_language(timelines, client):
    """The same stored row, read in Chinese and in English: the words follow the reader."""
    from tests import factories as f

    case = timelines["auto"]
    browser = Browser(client)
    browser.submit(
        "/",
        "/lookup",
        {"order_no": case.order.order_no, "contact": f.CONTACT, "password": f.PASSWORD},
    )
    zh = client.get(f"/cases/{case.case_no}", headers={"Accept-Language": "zh-CN"})
    en = client.get(f"/cases/{case.case_no}", headers={"Accept-Language": "en"})
    assert "已自动同意退款" in zh.get_data(as_text=True)
    english = en.get_data(as_text=True)
    assert "Approved at once: the order was not delivered by" in english
    assert "已自动同意退款" not in english
