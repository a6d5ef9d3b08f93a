"""The buyer's case page: a progress stepper, where the money goes and when it arrives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from portal.domain import progress
from portal.domain.progress import StepStatus
from portal.domain.states import State
from portal.extensions import db
from portal.models import RefundCase
from tests import factories as f
from tests.conftest import Browser
from tests.test_buyer_flow import login_order
from tests.test_settlement import approved_case, reviewer, work  # noqa: F401 - the fixture

D, C, T, S = StepStatus.DONE, StepStatus.CURRENT, StepStatus.TODO, StepStatus.STOPPED


@pytest.mark.parametrize(
    ("state", "label", "statuses"),
    [
        (State.SUBMITTED, progress.REVIEW, (D, C, T, T)),
        (State.NEEDS_INFO, progress.REVIEW, (D, C, T, T)),
        (State.NEGOTIATING, progress.NEGOTIATION, (D, C, T, T)),
        (State.APPEALED, progress.APPEAL, (D, C, T, T)),
        (State.REJECTED, progress.REJECTED, (D, S, T, T)),
        (State.WITHDRAWN, progress.WITHDRAWN, (D, S, T, T)),
        (State.CLOSED, progress.CLOSED, (D, S, T, T)),
        (State.APPROVED, progress.REVIEW, (D, D, C, T)),
        (State.REFUNDING, progress.REVIEW, (D, D, C, T)),
        (State.PAYOUT_FAILED, progress.REVIEW, (D, D, C, T)),
        (State.REFUNDED, progress.REVIEW, (D, D, D, D)),
    ],
)
def test_every_state_has_its_place_on_the_stepper(state, label, statuses):
    steps = progress.steps(state)
    assert [s.status for s in steps] == list(statuses)
    assert steps[1].label == label
    assert sum(s.status == C for s in steps) <= 1


def test_every_case_state_is_covered():
    for state in State:
        assert len(progress.steps(state)) == 4


class Steps(HTMLParser):
    """The stepper's items as (class, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[list[str]] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "li" and (dict(attrs).get("class") or "").startswith("step-"):
            self.items.append([dict(attrs)["class"], ""])
            self.inside = True

    def handle_endtag(self, tag):
        if tag == "li":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.items[-1][1] += data.strip()


def case_page(client, case, lang="zh-CN") -> str:
    buyer = Browser(client)
    login_order(buyer, case.order)
    r = client.get(f"/cases/{case.case_no}", headers={"Accept-Language": lang})
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_the_case_page_shows_the_stepper_and_where_the_money_goes(
    app,
    client,
    clock,
    reviewer,  # noqa: F811 - the fixture
    gateway,
):
    order = f.order(clock(), extra={"account_no": "6222 0202 0011 2233 445"})
    case = approved_case(clock, reviewer, order=order)
    parser = Steps()
    parser.feed(case_page(client, case))
    assert parser.items == [
        ["step-done", "提交申请"],
        ["step-done", "审核"],
        ["step-current", "退款中"],
        ["step-todo", "已到账"],
    ]
    text = case_page(client, case)
    assert "退回至：尾号 3445 的银行卡" in text
    work(app)
    db.session.expire_all()
    assert db.session.get(RefundCase, case.id).state == str(State.REFUNDED)
    parser = Steps()
    text = case_page(client, case)
    parser.feed(text)
    assert [c for c, _ in parser.items] == ["step-done"] * 4
    assert text.count("已到账") >= 2  # the last step and the refund record's arrival column


def test_an_online_route_names_the_account_that_paid(app, client, clock, reviewer):  # noqa: F811
    case = approved_case(clock, reviewer)
    assert "退回至：付款时使用的测试支付账户" in case_page(client, case)
    assert "To: the Fake Pay account that paid" in case_page(client, case, "en")


def test_the_review_deadline_is_shown_once_with_the_time_left_in_days(app, client, clock):
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases
    from portal.services.refunds.cases import ApplyInput

    order = f.order(clock())
    case = cases.apply_for_refund(
        order, ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "x")
    )
    case = db.session.get(RefundCase, case.id)
    clock.advance(hours=1)  # Tuesday 11:00 in Beijing: three working days ahead is Friday
    text = case_page(client, case)
    assert "3 个工作日内完成审核。" in text
    assert text.count("截止") == 1  # the due time once, not as a sentence and again beside it
    left = (case.deadline_at.replace(tzinfo=clock().tzinfo) - clock()).total_seconds() // 3600
    assert left > 48
    assert f"剩余 {int(left)} 小时" not in text
    assert f"剩余 {int(left) // 24} 天" in text
    english = case_page(client, case, "en")
    assert "Reviewed within 3 working days." in english and " days" in english
