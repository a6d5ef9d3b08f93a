"""Merchants are watched too: a shop far above the other shops on refunds, refusals,
overturned refusals or late answers is flagged to supervisors on /review/risk/shops. The rule
first (a table of situations), then a platform built through the real services: honest shops,
one that refuses everything and is overturned, one that never answers."""

from __future__ import annotations

import pytest

from portal.domain import merchant_watch as mw
from portal.domain.merchant_watch import Measure, ShopCounts
from portal.domain.policy import Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.services.actors import Actor
from portal.services.deadlines import deadline_rules
from portal.services.refunds import cases, disputes
from portal.services.risk import merchant_watch
from tests import factories as f
from tests.test_risk import apply, supervisor  # noqa: F401 - the fixture

M = Measure


@pytest.mark.parametrize(
    ("measure", "shop", "others", "flagged"),
    [
        (M.REFUSAL_RATE, (9, 9), (0, 100), False),  # 100 % but under the cases that count
        (M.REFUSAL_RATE, (10, 10), (0, 100), True),
        (M.REFUSAL_RATE, (3, 10), (20, 100), False),  # 30 % against 20 %: not twice
        (M.REFUND_RATE, (3, 50), (2, 100), False),  # 6 % against 2 %: thrice, but 4 points
        (M.REFUND_RATE, (4, 50), (2, 100), True),  # 8 % against 2 %: 6 points, 4 times
        (M.OVERTURNED, (5, 5), (0, 0), True),  # the only shop with refusals: against 0
        (M.LATE_ANSWERS, (4, 20), (10, 100), False),  # 20 % against 10 %: twice, 10 points
        (M.LATE_ANSWERS, (5, 20), (10, 100), True),  # 25 % against 10 %: 15 points
    ],
)
def test_far_above_the_other_shops_means_twice_and_points_above(measure, shop, others, flagged):
    found = mw.flag(measure, shop, others)
    assert (found is not None) == flagged
    if found is not None:
        assert found.shop_pct == shop[0] * 100 // shop[1]


def test_a_big_shop_cannot_hide_in_a_platform_total_it_makes():
    big = ShopCounts(1, "Big", orders=1000, filed=100, refunded=100)
    small = [ShopCounts(i, f"S{i}", orders=100, filed=2, refunded=2) for i in range(2, 6)]
    flagged = mw.review([big, *small])
    # 10 % against the others' 2 %; the platform with the big shop in it is 7.7 %
    assert [f.shop.name for f in flagged] == ["Big"]
    assert flagged[0].flags[0].others_pct == 2
    assert mw.platform_pct([big, *small])[M.REFUND_RATE] == 7


def test_no_shops_no_flags():
    assert mw.review([]) == [] and mw.platform_pct([])[M.REFUND_RATE] is None


# ---- a platform built through the services ------------------------------------------------


@pytest.fixture
def platform(app, clock):
    reviewer = Actor(Role.REVIEWER, f.staff("rev-w").id, "R")
    shops = {name: f.merchant(name) for name in ("honest1", "honest2", "refuser", "silent")}
    db.session.commit()
    merchants = {
        name: Actor(
            Role.MERCHANT, f.staff(f"{name}-staff", "merchant", name).id, name, merchant_id=s.id
        )
        for name, s in shops.items()
    }

    def orders(shop, n):
        placed = [f.order(clock(), m=shops[shop]) for _ in range(n)]
        for i, o in enumerate(placed):  # each its own buyer: low risk, so silence approves
            o.buyer_contact = f"{shop}-{i}@example.com"
        db.session.commit()
        return placed

    for shop in ("honest1", "honest2"):
        placed = orders(shop, 30)
        for i, o in enumerate(placed[:4]):
            case = apply(o, reason=Reason.UNUSABLE)
            if i < 3:
                disputes.merchant_agree(case, merchants[shop])
            else:
                disputes.merchant_refuse(case, merchants[shop], "the code worked")
                cases.reject(case, reviewer, "used")
    for i, o in enumerate(orders("refuser", 30)[:10]):
        case = apply(o)
        disputes.merchant_refuse(case, merchants["refuser"], "no refunds here")
        if i < 6:
            cases.approve(db.session.merge(case), reviewer, None, "the code was never valid")
    silent = [apply(o) for o in orders("silent", 30)[:10]]
    clock.advance(days=7)
    for case in silent:
        assert deadline_rules.fire("merchant_silence", case.id)
    return shops


def flagged_slugs(watch, platform):
    slug = {s.id: name for name, s in platform.items()}
    return {slug[f.shop.merchant_id]: {fl.measure: fl for fl in f.flags} for f in watch.flagged}


def test_the_shops_far_above_the_others_are_flagged(platform):
    watch = merchant_watch.watch(30)
    flagged = flagged_slugs(watch, platform)
    assert set(flagged) == {"refuser", "silent"}
    refuser = flagged["refuser"]
    assert set(refuser) == {M.REFUSAL_RATE, M.OVERTURNED}
    assert (refuser[M.REFUSAL_RATE].part, refuser[M.REFUSAL_RATE].base) == (10, 10)
    assert (refuser[M.OVERTURNED].part, refuser[M.OVERTURNED].base) == (6, 10)
    assert refuser[M.OVERTURNED].others_pct == 0  # the honest shops' refusals were upheld
    silent = flagged["silent"]
    assert set(silent) == {M.LATE_ANSWERS, M.REFUND_RATE}  # silence approves: refunded too
    assert silent[M.LATE_ANSWERS].shop_pct == 100
    assert watch.shops == 4 and watch.platform[M.REFUSAL_RATE] == 12 * 100 // 28


def test_the_period_leaves_older_cases_out(platform, clock):
    clock.advance(days=40)
    assert merchant_watch.watch(30).flagged == []
    assert set(flagged_slugs(merchant_watch.watch(60), platform)) == {"refuser", "silent"}


def test_supervisors_see_the_flagged_shops(platform, browser, supervisor):  # noqa: F811
    html = browser.get("/review/risk/shops").get_data(as_text=True)
    listed = html.split("Flagged shops", 1)[1]
    assert platform["refuser"].name in listed and platform["silent"].name in listed
    assert platform["honest1"].name not in listed and platform["honest2"].name not in listed
    assert "100% (10 of 10)" in listed
    zh = browser.client.get("/review/risk/shops", headers={"Accept-Language": "zh-CN"})
    text = zh.get_data(as_text=True)
    assert "重点关注店铺" in text and "100%（10 中的 10）" in text
    for days in ("abc", "-1", "0", "99999", "1e9"):
        assert browser.get(f"/review/risk/shops?days={days}").status_code == 200


def test_only_supervisors_see_the_page(app, client, browser):
    assert client.get("/review/risk/shops").status_code == 302  # not logged in
    f.staff("rev-ws")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-ws", "password": "password-123"}
    )
    assert browser.get("/review/risk/shops").status_code == 403
