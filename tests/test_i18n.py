"""Every user-facing string has a Chinese translation, and Chinese is what buyers see first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "portal/translations/zh/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")


def test_every_string_in_the_code_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "N_",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    wanted = {_key(m.id) for m in read_po(pot.open("rb")) if m.id}
    catalog = {_key(m.id): m for m in read_po(PO.open("rb")) if m.id}
    missing = sorted(str(i) for i in wanted if i not in catalog or not _translated(catalog[i]))
    assert not missing, f"untranslated (run `make i18n` and translate): {missing[:10]}"
    compiled = {_key(m.id) for m in read_mo(MO.open("rb")) if m.id and _translated(m)}
    assert wanted <= compiled, "messages.mo is stale: run `make i18n`"


def _key(msgid):
    """A message's id as a set member (a plural message's ids are a tuple or a list)."""
    return msgid if isinstance(msgid, str) else tuple(msgid)


def _translated(m) -> bool:
    """Every form of the message has a translation that is not blank."""
    forms = [m.string] if isinstance(m.string, str) else list(m.string or [])
    return bool(forms) and all(f and f.strip() for f in forms)


def test_the_catalogue_is_complete():
    """No entry is empty, fuzzy (a guess pybabel made, never shown) or blank in one plural
    form, and no obsolete entry lingers; every note code has its sentence in it."""
    from portal.domain import notes

    catalog = read_po(PO.open("rb"))
    entries = [m for m in catalog if m.id]
    assert [m.id for m in entries if not _translated(m)] == []
    assert [m.id for m in entries if m.fuzzy] == []
    assert list(catalog.obsolete) == []
    ids = {_key(m.id) for m in entries}
    assert set(notes.NOTES.values()) <= ids
    assert notes.OUTCOME_CODES <= set(notes.NOTES)


def test_chinese_wording(app):
    """The words buyers on Chinese after-sale pages know, full-width punctuation in Chinese
    text, and durations in natural units."""
    import re

    from portal.views.note_words import duration_words

    texts = [
        s
        for m in read_po(PO.open("rb"))
        if m.id
        for s in ([m.string] if isinstance(m.string, str) else m.string)
    ]
    chinese = [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)]
    assert [t for t in chinese if "退款退货" in t or "揭开" in t] == []
    # ASCII brackets, colons, semicolons, commas, question and exclamation marks, full
    # stops inside Chinese text (placeholders, addresses and "¥" amounts aside)
    ascii_punct = re.compile(r"[,;:!?()]|(?<![\w%])\.(?!\w)")
    bare = [re.sub(r"%\(\w+\)[sd]|https?://\S*|\w+\.\w+", "", t) for t in chinese]
    assert [t for t in bare if ascii_punct.search(t)] == []
    from portal.infra.i18n import force_locale

    with app.test_request_context(), force_locale("zh_Hans_CN"):
        assert duration_words(1440) == "24 小时"
        assert duration_words(5) == "5 分钟"
        assert duration_words(90) == "1 小时 30 分钟"
        assert duration_words(72 * 60) == "3 天"
    with app.test_request_context(), force_locale("en"):
        assert duration_words(1440) == "24 hours"
        assert duration_words(1) == "1 minute"


def test_placeholders_survive_translation():
    import re

    ph = re.compile(r"%\((\w+)\)[sd]")
    for m in read_po(PO.open("rb")):
        if m.id and m.string:
            ids = [m.id] if isinstance(m.id, str) else list(m.id)
            forms = [m.string] if isinstance(m.string, str) else list(m.string)
            for form in forms:
                assert sorted(ph.findall(ids[-1])) == sorted(ph.findall(form)), m.id


def test_every_ledger_kind_and_error_status_has_words():
    from portal.domain import labels
    from portal.domain.ledger_kinds import LedgerKind

    assert set(labels.LEDGER_LABELS) == set(LedgerKind)
    catalog = {m.id for m in read_po(PO.open("rb")) if m.id and m.string}
    for msgid in [*labels.LEDGER_LABELS.values(), *labels.HTTP_ERROR_LABELS.values()]:
        assert msgid in catalog, msgid


def test_outside_an_app_context_texts_are_shown_as_written():
    from portal.infra import i18n

    assert i18n.get_locale() is None
    assert i18n.gettext("%(minutes)d min", minutes=3) == "3 min"
    assert str(i18n.lazy_gettext("Order number")) == "Order number"


def test_catalogue_calls_in_a_request_and_in_a_job(app):
    from flask import g, render_template_string

    from portal.infra import i18n

    def fresh(headers: dict):
        return app.test_request_context(headers=headers)

    with fresh({"Accept-Language": "zh-CN"}):
        assert i18n.get_locale() == "zh_CN"
        assert i18n.gettext("%(minutes)d min", minutes=3) == "3 分钟"
        lazy = i18n.lazy_gettext("Order number")
        assert str(lazy) == "订单号" and f"{lazy}" == "订单号" and lazy == "订单号"
        with i18n.force_locale("en"):
            assert i18n.gettext("%(minutes)d min", minutes=3) == "3 min"
            assert str(lazy) == "Order number"  # translated when shown
        assert i18n.gettext("%(minutes)d min", minutes=3) == "3 分钟"
        assert i18n.ngettext("%(num)d file", "%(num)d files", 2) == "2 files"  # not in catalogue
        # templates: _() translates, and a variable put into the text is escaped
        html = render_template_string('{{ _("Order number") }}|{{ _("%(x)s", x="<b>") }}')
        assert html == "订单号|&lt;b&gt;"
        # a text without variables is still formatted where it holds a percent sign, as
        # Jinja's new-style gettext does ("%%" is "%"); without one it is shown as it is
        html = render_template_string('{{ _("100%% sure") }}|{{ _("<i>a</i>") }}|{{ _("50%%") }}')
        assert html == "100% sure|<i>a</i>|50%"
        assert render_template_string("{% trans %}Order number{% endtrans %}") == "订单号"
    with fresh({"Accept-Language": "en-GB,en;q=0.8"}):
        assert i18n.get_locale() == "en"
        assert render_template_string('{{ _("Order number") }}') == "Order number"
    with fresh({"Accept-Language": "fr"}):
        assert i18n.get_locale() == "zh_CN"  # the default for a language not offered
    assert i18n.get_locale() == "zh_CN"  # a job (no request): the default language
    with i18n.force_locale("en"):
        assert i18n.gettext("%(minutes)d min", minutes=3) == "3 min"
    assert g.get("_portal_locale") == "zh_CN"


def test_a_language_without_a_compiled_catalogue_stops_the_start(app):
    from portal.infra.i18n import Catalogues

    with pytest.raises(RuntimeError, match="no compiled catalogue for fr"):
        Catalogues().init_app(
            app,
            languages=["zh_CN", "en", "fr"],
            default_locale="zh_CN",
            locale_selector=lambda: None,
        )


def test_buyers_read_the_words_of_after_sale_pages():
    """售后单 (not a court's 案件) and 方案 (not a haggler's 报价/还价) throughout the catalogue."""
    texts = [
        s
        for m in read_po(PO.open("rb"))
        if m.id
        for s in ([m.string] if isinstance(m.string, str) else m.string)
    ]
    assert [t for t in texts if "案件" in t or "报价" in t or "还价" in t] == []
    assert any("售后单号" in t for t in texts)


#: The glossary of docs/wording.md: (pattern that must not appear in any msgstr, what to write
#: instead). One term per concept, so a buyer never wonders whether two words mean two things.
GLOSSARY = [
    (r"案件|本案", "售后单 / 售后单号 (本售后单, 该售后单): 案件 reads like a court"),
    (r"报价|还价", "方案 / 提出新方案: 报价/还价 sounds like haggling"),
    (r"退款退货", "退货退款, the order buyers know from Taobao and JD"),
    (r"揭开|揭示|显示操作", "查看卡密 (the act of revealing a code is 查看)"),
    (r"退钱|返款|返还款项", "退款"),
    # 商户号 and 商户 API 私钥 are WeChat Pay's own console names and stay
    (r"卖家|店家|商户(?!号|\s*API)", "商家 (the party) or 店铺 (the shop itself)"),
    (r"顾客|客户(?!端)", "买家"),
    (r"门户", "系统 (what the portal records) or 平台 (the operator as a party)"),
    (
        r"途径|支付方式|退款渠道",
        "支付渠道 (Alipay, WeChat Pay, bank) or 退款方式 / 其他方式 (the way a refund went)",
    ),
    (r"批准", "同意 / 同意退款 (a reviewer's or merchant's yes)"),
    (r"升级给", "转交主管 (a late review)"),
    (r"逾期|超期", "超时 (超时未处理, 审核超时)"),
    (r"释放|解除冻结", "解冻"),
    (r"证据", "凭证 (files) or 材料 (what a reviewer asks for)"),
    (r"你", "您: buyers and staff are addressed politely"),
    (r"均未被|都还没有被", "a sentence that reads for any count (已发放 1 个卡密，尚无查看记录)"),
    (
        r"\d{3,}\s*分钟|\d+\s*(?:min|h)\b",
        "natural units: 24 小时, 3 天, 3 个工作日 (duration_words)",
    ),
    # ASCII punctuation next to a Chinese character (full-width ：；（），？！ in Chinese text)
    (
        r"[\u4e00-\u9fff]\s*[:;(,?!]|[);,?!]\s*[\u4e00-\u9fff]",
        "full-width ：；（），？！ in Chinese text",
    ),
    (r"\.\.\.", "…"),
]


def _glossary_breaches(texts: list[tuple[str, str]]) -> list[str]:
    """For each (msgid, msgstr) that uses a rejected word: what it says and what to write."""
    import re

    out = []
    for pattern, wanted in GLOSSARY:
        rx = re.compile(pattern)
        for msgid, text in texts:
            # placeholders and addresses are not Chinese text
            bare = re.sub(r"%\(\w+\)[sd]|https?://\S*", "", text)
            hit = rx.search(bare)
            if hit:
                out.append(f"{msgid!r}: {text!r} has {hit.group(0)!r}; write {wanted}")
    return out


def test_the_catalogue_keeps_the_glossary():
    """Every msgstr uses the one term docs/wording.md settles per concept, full-width
    punctuation beside Chinese characters and natural units for durations."""
    texts = [
        (m.id if isinstance(m.id, str) else m.id[0], s)
        for m in read_po(PO.open("rb"))
        if m.id
        for s in ([m.string] if isinstance(m.string, str) else m.string)
    ]
    breaches = _glossary_breaches(texts)
    assert breaches == [], "wording outside docs/wording.md's glossary:\n" + "\n".join(breaches)
    # the wanted terms are in use (the glossary is not satisfied by an empty catalogue)
    joined = "\n".join(s for _, s in texts)
    for term in [
        "售后单号",
        "提出新方案",
        "退货退款",
        "查看卡密",
        "支付渠道",
        "退款方式",
        "交易快照",
    ]:
        assert term in joined, term


@pytest.mark.parametrize(
    "old",
    [
        "案件号：RF-1",
        "本案已冻结",
        "商家的还价",
        "退款退货",
        "揭开卡密",
        "卖家未发货",
        "承诺发货时限 1440 分钟",
        "1 个卡密均未被查看",
        "你无权访问",
        "审核截止:%(t)s",
        "金额 (元)",
        "已升级给主管",
        "改用其他途径",
    ],
)
def test_the_glossary_check_catches_the_old_wording(old):
    assert _glossary_breaches([("msgid", old)]), old


def test_the_glossary_check_lets_good_wording_through():
    good = [
        "售后单 %(no)s：%(state)s（剩余 3 小时）",
        "地址（https://…）",
        "订单号 DEMO1001，卡密 AB12-CD34",
        "用户名或密码错误。",
        "微信支付商户号",
        "例如：付款 30 分钟后仍未发货",
    ]
    assert _glossary_breaches([("msgid", g) for g in good]) == []


def test_chinese_written_in_python_keeps_the_glossary():
    """The Chinese that plugins and the SMS settings carry themselves (``Words(zh=...)``)
    follows the same glossary as the catalogue."""
    import ast

    texts = []
    for path in [*ROOT.glob("portal/**/*.py"), *ROOT.glob("plugins/*/refund_portal_*/**/*.py")]:
        if "simulator" in path.parts:  # a gateway's own words, as the gateway writes them
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "zh" and isinstance(kw.value, ast.Constant | ast.JoinedStr):
                        parts = [kw.value] if isinstance(kw.value, ast.Constant) else []
                        if isinstance(kw.value, ast.JoinedStr):
                            parts = [v for v in kw.value.values if isinstance(v, ast.Constant)]
                        for part in parts:
                            texts.append((f"{path.relative_to(ROOT)}:{node.lineno}", part.value))
    assert len(texts) > 20  # the walk found the plugins' words
    breaches = _glossary_breaches(texts)
    assert breaches == [], "\n".join(breaches)


def test_no_message_is_in_the_catalogue_twice():
    """A second entry for the same message id silently wins when compiled (and merges of
    branches that each added it leave one behind): each id is written once."""
    import re
    from collections import Counter

    ids = Counter()
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        found = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        if found and not block.lstrip().startswith("#~"):
            lines = [line for line in found.group(1).splitlines() if line.startswith('"')]
            ids["".join(line[1:-1] for line in lines)] += 1
    assert [key[:60] for key, count in ids.items() if count > 1 and key] == []


def test_time_left_is_said_in_the_units_a_person_counts_in(app):
    """A deadline 103 hours away is 4 days 7 hours, not "103 h" (buyers saw 剩余 103 小时)."""
    from portal.infra.i18n import force_locale
    from portal.views.note_words import time_left_words

    expected = {
        45: ("45 分钟", "45 minutes"),
        90: ("1 小时", "1 hour"),
        47 * 60 + 59: ("47 小时", "47 hours"),
        103 * 60 + 20: ("4 天 7 小时", "4 days 7 hours"),
        72 * 60: ("3 天", "3 days"),
        -5: ("0 分钟", "0 minutes"),
    }
    for minutes, (zh, en) in expected.items():
        with app.test_request_context(), force_locale("zh_CN"):
            assert time_left_words(minutes) == zh
        with app.test_request_context(), force_locale("en"):
            assert time_left_words(minutes) == en


def test_lists_of_items_use_the_enumeration_comma_in_chinese(app):
    from portal.infra.i18n import force_locale
    from portal.views.punctuation import series

    with app.test_request_context("/"):
        with force_locale("zh_CN"):
            assert series(["RF1", "RF2", "RF3"]) == "RF1、RF2、RF3"
        with force_locale("en"):
            assert series(["RF1", "RF2"]) == "RF1, RF2"
        assert series([]) == ""
