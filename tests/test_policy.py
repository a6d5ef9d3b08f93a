"""Eligibility: every refundable situation and every refusal, as one table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.domain.policy import Application, OrderFacts, Reason, decide

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)


def facts(**kw) -> OrderFacts:
    base = dict(
        paid_at=NOW - DAY,
        delivered_at=NOW - DAY + MIN,
        cancelled_at=None,
        goods_used=False,
        delivery_sla=5 * MIN,
        refund_window=7 * DAY,
        refundable_fen=10000,
    )
    base.update(kw)
    return OrderFacts(**base)


CASES = [
    # (id, facts overrides, reason, amount, explanation, eligible, rule, proven)
    (
        "instant not delivered past 5 min",
        dict(paid_at=NOW - 10 * MIN, delivered_at=None),
        Reason.NOT_DELIVERED,
        10000,
        "",
        True,
        "not_delivered_proven",
        True,
    ),
    (
        "instant delivered late",
        dict(paid_at=NOW - DAY, delivered_at=NOW - DAY + 6 * MIN),
        Reason.NOT_DELIVERED,
        10000,
        "",
        True,
        "not_delivered_proven",
        True,
    ),
    (
        "instant within SLA still waiting",
        dict(paid_at=NOW - 3 * MIN, delivered_at=None),
        Reason.NOT_DELIVERED,
        10000,
        "",
        False,
        "sla_not_passed",
        False,
    ),
    (
        "instant delivered on time",
        dict(),
        Reason.NOT_DELIVERED,
        10000,
        "",
        False,
        "delivered_on_time",
        False,
    ),
    (
        "scheduled not delivered after 23h",
        dict(paid_at=NOW - 23 * 60 * MIN, delivered_at=None, delivery_sla=DAY),
        Reason.NOT_DELIVERED,
        10000,
        "",
        False,
        "sla_not_passed",
        False,
    ),
    (
        "scheduled not delivered after 25h",
        dict(paid_at=NOW - 25 * 60 * MIN, delivered_at=None, delivery_sla=DAY),
        Reason.NOT_DELIVERED,
        10000,
        "",
        True,
        "not_delivered_proven",
        True,
    ),
    (
        "not as described within window",
        dict(),
        Reason.NOT_AS_DESCRIBED,
        10000,
        "",
        True,
        "eligible",
        False,
    ),
    ("unusable within window", dict(), Reason.UNUSABLE, 5000, "", True, "eligible", False),
    (
        "other with explanation",
        dict(),
        Reason.OTHER,
        10000,
        "the key was for another region",
        True,
        "eligible",
        False,
    ),
    (
        "other without explanation",
        dict(),
        Reason.OTHER,
        10000,
        "  ",
        False,
        "explanation_required",
        False,
    ),
    (
        "cancelled order: automatic",
        dict(cancelled_at=NOW - DAY + MIN, delivered_at=None),
        Reason.NOT_DELIVERED,
        10000,
        "",
        False,
        "cancelled",
        False,
    ),
    ("goods used", dict(goods_used=True), Reason.UNUSABLE, 10000, "", False, "goods_used", False),
    (
        "goods used, claims not delivered",
        dict(goods_used=True, paid_at=NOW - DAY, delivered_at=NOW - DAY + 6 * MIN),
        Reason.NOT_DELIVERED,
        10000,
        "",
        False,
        "goods_used",
        False,
    ),
    (
        "buyer's own mistake",
        dict(),
        Reason.BUYER_MISTAKE,
        10000,
        "topped up the wrong account",
        False,
        "not_merchant_fault",
        False,
    ),
    (
        "after the 7-day window",
        dict(paid_at=NOW - 9 * DAY, delivered_at=NOW - 8 * DAY),
        Reason.UNUSABLE,
        10000,
        "",
        False,
        "after_window",
        False,
    ),
    (
        "just inside the window",
        dict(paid_at=NOW - 8 * DAY, delivered_at=NOW - 7 * DAY + MIN),
        Reason.UNUSABLE,
        10000,
        "",
        True,
        "eligible",
        False,
    ),
    (
        "special policy overrides window",
        dict(
            refund_window=timedelta(0),
            policy_overrides_window=True,
            policy_text="no refunds after delivery",
        ),
        Reason.NOT_AS_DESCRIBED,
        10000,
        "",
        False,
        "policy_window",
        False,
    ),
    (
        "special policy with a longer window",
        dict(
            paid_at=NOW - 20 * DAY,
            delivered_at=NOW - 20 * DAY,
            refund_window=30 * DAY,
            policy_overrides_window=True,
        ),
        Reason.UNUSABLE,
        10000,
        "",
        True,
        "eligible",
        False,
    ),
    (
        "amount over refundable",
        dict(refundable_fen=3000),
        Reason.UNUSABLE,
        3001,
        "",
        False,
        "amount_over_refundable",
        False,
    ),
    ("amount zero", dict(), Reason.UNUSABLE, 0, "", False, "amount_not_positive", False),
    (
        "already fully refunded",
        dict(refundable_fen=0),
        Reason.UNUSABLE,
        100,
        "",
        False,
        "nothing_left",
        False,
    ),
    (
        "not paid",
        dict(paid_at=None, delivered_at=None),
        Reason.NOT_DELIVERED,
        100,
        "",
        False,
        "not_paid",
        False,
    ),
    (
        "not delivered yet, wrong reason",
        dict(paid_at=NOW - 2 * MIN, delivered_at=None),
        Reason.UNUSABLE,
        100,
        "",
        False,
        "not_delivered_yet",
        False,
    ),
]


@pytest.mark.parametrize(
    ("over", "reason", "amount", "text", "eligible", "rule", "proven"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_eligibility_table(over, reason, amount, text, eligible, rule, proven):
    decision = decide(facts(**over), Application(reason, amount, text), NOW)
    assert (decision.eligible, decision.rule, decision.proven) == (eligible, rule, proven)
    # every refusal names its rule with a message that fills without error
    assert decision.message % decision.params


def test_refusal_messages_carry_the_facts():
    d = decide(
        facts(paid_at=NOW - 9 * DAY, delivered_at=NOW - 8 * DAY),
        Application(Reason.UNUSABLE, 100),
        NOW,
    )
    text = d.message % d.params
    assert "7" in text and (NOW - DAY).strftime("%Y-%m-%d") in text
    d = decide(
        facts(
            refund_window=timedelta(0),
            policy_overrides_window=True,
            policy_text="账号类商品交付后不退",
        ),
        Application(Reason.UNUSABLE, 100),
        NOW,
    )
    assert "账号类商品交付后不退" in d.message % d.params
