"""Risk signals, rules, the watch list and the fast lane: hostile input first, then the
scenarios (a buyer who reveals then claims invalid, one contact in five shops within an hour,
a payer account and a network address applying again and again, evidence reused, history)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from portal.domain import risk
from portal.domain.policy import Kind, Reason
from portal.domain.risk import FastLaneFacts, RiskLevel, Rule, Signal, SignalCode
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, Payout, RefundCase, RiskRuleRow, ShopFastLane, WatchEntry
from portal.services.actors import Actor
from portal.services.deadlines import deadline_rules
from portal.services.errors import DomainError
from portal.services.refunds import cases
from portal.services.risk import assessment, fast_lane, rules, watch_list
from portal.services.uploads import evidence
from tests import factories as f

S = SignalCode
OPERATOR = Actor(Role.REVIEWER, None, "op")


def order_for(clock, contact="buyer@example.com", **kw):
    o = f.order(clock(), **kw)
    o.buyer_contact = contact
    db.session.commit()
    return o


def apply(order, reason=Reason.UNUSABLE, amount=None, address="", files=()):
    return cases.apply_for_refund(
        order,
        cases.ApplyInput(
            Kind.REFUND_ONLY,
            reason,
            amount or order.amount_fen,
            "does not work",
            files=tuple(files),
            address=address,
        ),
    )


def signals_of(case) -> dict[str, tuple[int, str]]:
    return {s["code"]: (s["value"], s["level"]) for s in case.risk_signals}


def events(case, kind):
    return db.session.scalar(
        select(func.count()).select_from(Event).where(Event.case_id == case.id, Event.kind == kind)
    )


def payouts(case):
    return db.session.scalar(
        select(func.count()).select_from(Payout).where(Payout.case_id == case.id)
    )


# ---- pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("review_at", "high_at", "code"),
    [
        (0, None, "negative"),
        (-5, 3, "negative"),
        (None, 0, "negative"),
        (5, 3, "order"),
        (10**13, None, "too_large"),
    ],
)
def test_operator_rules_that_cannot_hold_are_refused(review_at, high_at, code):
    with pytest.raises(risk.RuleError) as err:
        risk.checked_rule(review_at, high_at)
    assert err.value.code == code


def test_rule_levels_and_combination():
    rule = Rule(3, 5)
    assert [rule.level(v) for v in (0, 2, 3, 4, 5, 99)] == [
        "low",
        "low",
        "review",
        "review",
        "high",
        "high",
    ]
    assert Rule(None, None).level(10**9) == RiskLevel.LOW  # blank: never raises
    assert Rule(None, 1).level(1) == RiskLevel.HIGH
    found = risk.assess([Signal(S.VELOCITY_CONTACT_HOUR, 3), Signal(S.CONTACT_APPLICATIONS, 0)], {})
    assert found.level == RiskLevel.REVIEW
    assert [s.code for s, _ in found.signals] == [S.VELOCITY_CONTACT_HOUR]  # zeros dropped
    assert risk.assess([], {}).level == RiskLevel.LOW
    # an operator's rule replaces the default for its signal only
    assert (
        risk.assess(
            [Signal(S.VELOCITY_CONTACT_HOUR, 3)], {S.VELOCITY_CONTACT_HOUR: Rule(None, 2)}
        ).level
        == "high"
    )


def test_refund_rate_waits_for_enough_orders():
    assert risk.refund_rate_percent(2, 2) == 0
    assert risk.refund_rate_percent(2, 3) == 66
    assert risk.refund_rate_percent(9, 3) == 100


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, risk.FastLaneRule.INVALID_UNREVEALED),
        ({"reason": Reason.NOT_DELIVERED}, risk.FastLaneRule.NOT_DELIVERED),
        ({"level": RiskLevel.REVIEW}, None),
        ({"level": RiskLevel.HIGH}, None),
        ({"opted_out": True}, None),
        ({"amount_fen": 5001}, None),
        ({"limit_fen": 0}, None),
        ({"codes_revealed": 1}, None),
        ({"codes_delivered": 0}, None),
        ({"reason": Reason.NOT_AS_DESCRIBED}, None),
        ({"reason": Reason.OTHER}, None),
    ],
)
def test_fast_lane_table(change, expected):
    base = dict(
        level=RiskLevel.LOW,
        reason=Reason.UNUSABLE,
        amount_fen=5000,
        codes_revealed=0,
        codes_delivered=1,
        limit_fen=5000,
        opted_out=False,
    )
    assert risk.fast_lane(FastLaneFacts(**{**base, **change})) == expected


def test_every_signal_has_a_reason_a_default_rule_and_a_label():
    from portal.domain import labels, notes

    for code in SignalCode:
        assert str(code) in notes.NOTES and code in risk.DEFAULT_RULES
        assert code in labels.SIGNAL_LABELS
    assert not risk.may_decide_automatically("high")
    assert risk.may_decide_automatically("")  # a case filed before risk existed


# ---- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["", "unknown", "1.2.3.4, 5.6.7.8", "x" * 5000, "999.1.1.1", "<script>", "1.2.3.4\x00", None],
)
def test_a_forged_or_garbled_address_is_not_kept(raw):
    assert assessment.network_address(raw) == ""


def test_addresses_are_kept_canonical():
    assert assessment.network_address(" 10.0.0.1 ") == "10.0.0.1"
    assert assessment.network_address("2001:DB8::0:1") == "2001:db8::1"


@pytest.fixture
def supervisor(browser):
    user = f.staff("sup1", "supervisor")
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": "sup1", "password": "password-123"}
    )
    assert r.status_code == 303
    return user


@pytest.mark.parametrize(
    "data",
    [
        {"review_at": "-1", "high_at": ""},
        {"review_at": "abc", "high_at": ""},
        {"review_at": "5", "high_at": "2"},
        {"review_at": "1e9", "high_at": ""},
        {"review_at": "99999999999999999999999", "high_at": ""},
        {"review_at": "3\x00", "high_at": ""},
    ],
)
def test_bad_rule_input_is_refused_and_nothing_saved(app, browser, supervisor, data):
    sig = str(S.VELOCITY_CONTACT_HOUR)
    r = browser.submit(
        "/review/risk/",
        f"/review/risk/rules/{sig}",
        {f"{sig}-{k}": v for k, v in data.items()},
    )
    assert r.status_code == 422
    assert "Traceback" not in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RiskRuleRow)) == 0
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_rules_page_refuses_strangers_forgeries_and_unknown_signals(app, browser, client):
    sig = str(S.VELOCITY_CONTACT_HOUR)
    assert client.get("/review/risk/").status_code == 302  # not logged in
    f.staff("rev9")
    browser.submit("/staff/login", "/staff/login", {"username": "rev9", "password": "password-123"})
    assert client.get("/review/risk/").status_code == 403  # a reviewer, not a supervisor
    assert client.get("/review/risk/watch").status_code == 403
    client.post("/staff/logout", data={})
    f.staff("sup2", "supervisor")
    browser.submit("/staff/login", "/staff/login", {"username": "sup2", "password": "password-123"})
    # no CSRF token: refused, nothing saved
    r = client.post(f"/review/risk/rules/{sig}", data={f"{sig}-review_at": "2"})
    assert r.status_code == 400
    r = browser.submit("/review/risk/", "/review/risk/rules/drop_table", {"x": "1"})
    assert r.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(RiskRuleRow)) == 0


def test_operator_changes_a_rule_and_the_change_is_recorded(app, browser, supervisor, clock):
    sig = str(S.VELOCITY_CONTACT_HOUR)
    page = browser.get("/review/risk/").get_data(as_text=True)
    assert "Applications per contact in an hour" in page
    r = browser.submit(
        "/review/risk/",
        f"/review/risk/rules/{sig}",
        {f"{sig}-review_at": "", f"{sig}-high_at": "2"},
    )
    assert r.status_code == 303
    assert rules.current()[S.VELOCITY_CONTACT_HOUR] == Rule(None, 2)
    ev = db.session.scalar(select(Event).where(Event.kind == "risk_rule_changed"))
    assert ev.actor_id == supervisor.id and ev.actor_label
    assert ev.data == {"signal": sig, "old": [3, 5], "new": [None, 2]}
    # the new rule applies to the next case: a second application within the hour is high
    apply(order_for(clock))
    second = apply(order_for(clock))
    assert second.risk_level == "high"


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "contact", "value": "", "days": "30", "reason": "abuse"},
        {"kind": "contact", "value": "a@b.c", "days": "30", "reason": ""},
        {"kind": "contact", "value": "a@b.c", "days": "0", "reason": "abuse"},
        {"kind": "contact", "value": "a@b.c", "days": "100000", "reason": "abuse"},
        {"kind": "contact", "value": "a@b.c", "days": "ten", "reason": "abuse"},
        {"kind": "everyone", "value": "a@b.c", "days": "30", "reason": "abuse"},
        {"kind": "contact", "value": "a\u0085b", "days": "30", "reason": "abuse"},
        {"kind": "contact", "value": "x" * 121, "days": "30", "reason": "abuse"},
        {"kind": "payer", "value": "2088", "days": "30", "reason": "r" * 501},
    ],
)
def test_bad_watch_list_input_is_refused_and_nothing_saved(app, browser, supervisor, data):
    r = browser.submit("/review/risk/watch", "/review/risk/watch", data)
    assert r.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(WatchEntry)) == 0


def test_watch_list_add_and_remove_through_the_forms(app, browser, supervisor, client):
    r = browser.submit(
        "/review/risk/watch",
        "/review/risk/watch",
        {"kind": "payer", "value": " 2088101117955611 ", "days": "30", "reason": "confirmed abuse"},
    )
    assert r.status_code == 303
    entry = db.session.scalar(select(WatchEntry))
    assert entry.value == "2088101117955611" and entry.added_by_id == supervisor.id
    assert "2088101117955611" in browser.get("/review/risk/watch").get_data(as_text=True)
    assert client.post(f"/review/risk/watch/{entry.id}/remove").status_code in (303, 400)
    db.session.expire_all()
    assert db.session.get(WatchEntry, entry.id).removed_at is None  # no token: nothing
    r = browser.submit("/review/risk/watch", f"/review/risk/watch/{entry.id}/remove", {})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(WatchEntry, entry.id).removed_at is not None
    kinds = db.session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["watch_added", "watch_removed"]
    # removing it again is a clear "not on the list", not a crash
    r = browser.submit("/review/risk/watch", f"/review/risk/watch/{entry.id}/remove", {})
    assert r.status_code == 303
    assert watch_list.live() == []


def test_fast_lane_limit_form_refuses_bad_amounts_and_unknown_shops(app, browser, supervisor):
    m = f.merchant()
    db.session.commit()
    for bad in ("-1", "abc", "1.234", "1e5"):
        r = browser.submit(
            "/review/risk/fast-lane", f"/review/risk/fast-lane/{m.id}", {f"s{m.id}-limit": bad}
        )
        assert r.status_code == 422, bad
    r = browser.submit(
        "/review/risk/fast-lane", "/review/risk/fast-lane/999999", {"s999999-limit": "10"}
    )
    assert r.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(ShopFastLane)) == 0
    r = browser.submit(
        "/review/risk/fast-lane", f"/review/risk/fast-lane/{m.id}", {f"s{m.id}-limit": "50"}
    )
    assert r.status_code == 303
    assert fast_lane.for_shop(m.id).limit_fen == 5000


def test_the_address_is_kept_with_the_application(app, clock):
    case = apply(order_for(clock), address="203.0.113.7")
    assert case.applicant_address == "203.0.113.7"
    assert (
        apply(order_for(clock, contact="z@example.com"), address="x" * 99).applicant_address == ""
    )


# ---- scenarios ----------------------------------------------------------------------------


def test_reveal_then_claim_invalid_is_flagged_for_review(app, clock):
    o = order_for(clock)
    o.codes[0].first_revealed_at = clock() - timedelta(minutes=5)
    db.session.commit()
    case = apply(o)
    assert signals_of(case)[str(S.REVEALED_BEFORE_CLAIM)] == (1, "review")
    assert case.risk_level == "review"
    applied = db.session.scalar(
        select(Event).where(Event.case_id == case.id, Event.kind == "applied")
    )
    assert applied.data["risk_level"] == "review"


def test_a_reveal_without_a_code_claim_or_after_the_claim_is_no_signal(app, clock):
    o = order_for(clock)
    o.codes[0].first_revealed_at = clock() - timedelta(minutes=5)
    db.session.commit()
    case = apply(o, reason=Reason.OTHER)
    assert str(S.REVEALED_BEFORE_CLAIM) not in signals_of(case)
    o2 = order_for(clock, contact="other@example.com")
    case2 = apply(o2)
    o2.codes[0].first_revealed_at = clock() + timedelta(minutes=5)
    db.session.commit()
    clock.advance(minutes=10)
    found = assessment.measure(case2, o2)
    assert S.REVEALED_BEFORE_CLAIM not in [s.code for s, _ in found.signals]


def test_shop_reporting_use_before_the_claim_makes_it_high(app, clock):
    o = order_for(clock)
    case = apply(o)
    o.goods_used, o.goods_used_at = True, clock() - timedelta(hours=1)  # reported late
    db.session.commit()
    found = assessment.measure(case, o)
    assert found.level == RiskLevel.HIGH
    assert dict((s.code, lv) for s, lv in found.signals)[S.USED_BEFORE_CLAIM] == "high"


def test_one_contact_in_five_shops_within_an_hour_is_high_and_not_auto_approved(app, clock):
    made = []
    # the same contact written four ways (the order lookup takes them all as one)
    for contact in (
        "fast@example.com",
        "FAST@example.com",
        " fast@Example.com",
        "fast@example.com ",
    ):
        made.append(apply(order_for(clock, contact=contact)))
        clock.advance(minutes=10)
    assert made[2].risk_level == "review"  # the third in the hour
    # the fifth: not delivered, so the order's own times would approve it at once
    late = order_for(
        clock, contact="fast@example.com", delivered_after=None, paid_ago=timedelta(hours=2)
    )
    fifth = apply(late, reason=Reason.NOT_DELIVERED)
    assert signals_of(fifth)[str(S.VELOCITY_CONTACT_HOUR)] == (5, "high")
    assert fifth.risk_level == "high"
    db.session.expire_all()
    fifth = db.session.get(RefundCase, fifth.id)
    assert fifth.state == State.SUBMITTED and payouts(fifth) == 0
    assert events(fifth, "auto_approval_held") == 1
    # a new hour: the contact's day count still says review, no longer high
    clock.advance(hours=2)
    later = apply(order_for(clock, contact="fast@example.com"))
    assert signals_of(later)[str(S.VELOCITY_CONTACT_HOUR)] == (1, "low")
    assert signals_of(later)[str(S.VELOCITY_CONTACT_DAY)] == (6, "review")


def test_a_low_risk_not_delivered_order_is_still_approved_at_once(app, clock):
    late = order_for(clock, delivered_after=None, paid_ago=timedelta(hours=2))
    case = apply(late, reason=Reason.NOT_DELIVERED)
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.risk_level == "low" and case.state == State.REFUNDING and payouts(case) == 1


def test_payer_account_velocity_across_contacts(app, clock):
    for i in range(5):
        last = apply(order_for(clock, contact=f"c{i}@example.com", extra={"buyer_id": "2088X"}))
    # the factory writes extra only: the portal takes the payer id from it on ingest; here,
    # as an order ingested through the API would have it
    from portal.models import Payment

    db.session.execute(Payment.__table__.update().values(payer_id="2088X"))
    db.session.commit()
    found = dict((s.code, (s.value, lv)) for s, lv in assessment.measure(last, last.order).signals)
    assert found[S.VELOCITY_PAYER_HOUR] == (5, "high")
    assert found[S.PAYER_APPLICATIONS] == (4, "low")
    assert S.VELOCITY_CONTACT_HOUR not in found or found[S.VELOCITY_CONTACT_HOUR][0] == 1


def test_payer_id_is_taken_from_the_gateway_fields_the_shop_forwards():
    from portal.services.integration.ingest import payer_id

    assert payer_id({"buyer_id": "2088101117955611"}) == "2088101117955611"
    assert payer_id({"openid": " oUpF8uMuAJO_M2pxb1Q9zNjWeS6o "}) == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert payer_id({"buyer_open_id": "x" * 200}) == "x" * 64
    assert payer_id({"card": "6222"}) == ""


def test_network_address_velocity(app, clock):
    for i in range(10):
        last = apply(order_for(clock, contact=f"n{i}@example.com"), address="198.51.100.9")
    assert signals_of(last)[str(S.VELOCITY_ADDRESS_HOUR)] == (10, "high")
    other = apply(order_for(clock, contact="far@example.com"), address="198.51.100.10")
    assert str(S.VELOCITY_ADDRESS_HOUR) in signals_of(other)
    assert signals_of(other)[str(S.VELOCITY_ADDRESS_HOUR)] == (1, "low")


def test_history_refund_rate_amount_and_lost_appeals(app, clock):
    reviewer = Actor(Role.REVIEWER, f.staff("rev-h").id, "R")
    other_reviewer = Actor(Role.REVIEWER, f.staff("rev-h2").id, "R2")
    for _ in range(3):
        c = apply(order_for(clock, contact="h@example.com", amount_fen=30000))
        cases.approve(c, reviewer)
        clock.advance(hours=3)
    c = apply(order_for(clock, contact="h@example.com"))
    cases.reject(c, reviewer, "used")
    from portal.services.refunds import disputes

    disputes.appeal(c, "it was never used at all", [])
    cases.reject(db.session.get(RefundCase, c.id), other_reviewer, "still used")
    clock.advance(hours=3)
    case = apply(order_for(clock, contact="h@example.com"))
    got = signals_of(case)
    assert got[str(S.CONTACT_APPLICATIONS)] == (4, "low")
    assert got[str(S.CONTACT_REFUND_RATE)] == (60, "review")  # 3 of 5 orders
    assert got[str(S.CONTACT_REFUNDED_30D)] == (90000, "review")
    assert got[str(S.CONTACT_APPEALS_LOST)] == (1, "review")
    # 30 days on, the amount no longer counts
    clock.advance(days=31)
    later = apply(order_for(clock, contact="h@example.com"))
    assert str(S.CONTACT_REFUNDED_30D) not in signals_of(later)


def test_the_same_evidence_on_another_case(app, clock, tmp_path):
    import io

    from werkzeug.datastructures import FileStorage

    from tests.images import PNG

    def upload():
        return FileStorage(io.BytesIO(PNG), filename="shot.png", content_type="image/png")

    with evidence.stored_uploads([upload()]) as stored:
        first = apply(order_for(clock, contact="e1@example.com"), files=stored)
    with evidence.stored_uploads([upload()]) as stored:
        second = apply(order_for(clock, contact="e2@example.com"), files=stored)
    assert str(S.SAME_EVIDENCE) not in signals_of(first)
    note = next(s for s in second.risk_signals if s["code"] == str(S.SAME_EVIDENCE))
    assert note["value"] == 1 and first.case_no in note["params"]["cases"]


def test_watch_list_raises_the_level_but_never_refuses(app, clock):
    watch_list.add("contact", " Bad@Example.com", 30, "confirmed abuse", OPERATOR)
    case = apply(order_for(clock, contact="bad@example.COM"))
    assert case.state == State.SUBMITTED  # filed, not refused
    assert case.risk_level == "high"
    assert signals_of(case)[str(S.WATCH_LIST)] == (1, "high")
    watched = next(s for s in case.risk_signals if s["code"] == str(S.WATCH_LIST))
    until = datetime.fromisoformat(watched["params"]["until_at"])
    assert until == clock() + timedelta(days=30)  # an instant, in UTC: shown in China time
    # an expired entry and a removed one no longer count
    clock.advance(days=31)
    later = apply(order_for(clock, contact="bad@example.com"))
    assert str(S.WATCH_LIST) not in signals_of(later)
    entry = watch_list.add("payer", "OPENID-1", 30, "abuse", OPERATOR)
    watch_list.remove(entry.id, OPERATOR)
    third = apply(order_for(clock, contact="ok@example.com"))
    assert str(S.WATCH_LIST) not in signals_of(third)


@pytest.mark.parametrize(
    ("kind", "value", "days", "reason"),
    [
        ("x", "v", 1, "r"),
        ("contact", " ", 1, "r"),
        ("contact", "v", 1, " "),
        ("contact", "v", 0, "r"),
        ("payer", "v", 3651, "r"),
    ],
)
def test_watch_list_service_refuses_bad_entries(app, kind, value, days, reason):
    with pytest.raises(DomainError):
        watch_list.add(kind, value, days, reason, OPERATOR)
    assert db.session.scalar(select(func.count()).select_from(WatchEntry)) == 0


# ---- the fast lane ------------------------------------------------------------------------


def lane(m, limit_fen):
    fast_lane.set_limit(m.id, limit_fen, OPERATOR)


def test_fast_lane_approves_a_small_low_risk_invalid_claim_once(app, clock):
    m = f.merchant()
    db.session.commit()
    lane(m, 5000)
    case = apply(order_for(clock, m=m, amount_fen=3000))
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.state == State.REFUNDING
    assert case.auto_rule == "fast_invalid_unrevealed"
    assert case.decision_msg == {"code": "fast_invalid_unrevealed", "params": {"limit_fen": 5000}}
    assert payouts(case) == 1  # the money moves once, through the payout service
    approved = db.session.scalar(
        select(Event).where(Event.case_id == case.id, Event.to_state == "approved")
    )
    assert (
        approved.actor_role == "system" and approved.data["auto_rule"] == "fast_invalid_unrevealed"
    )


@pytest.mark.parametrize("why", ["over_limit", "opted_out", "revealed", "no_limit", "review"])
def test_fast_lane_leaves_the_case_to_a_person(app, clock, why):
    m = f.merchant()
    db.session.commit()
    if why != "no_limit":
        lane(m, 5000)
    if why == "opted_out":
        fast_lane.set_opt_out(m.id, True, Actor(Role.MERCHANT, None, "shop", m.id))
    o = order_for(clock, m=m, amount_fen=6000 if why == "over_limit" else 3000)
    if why == "revealed":
        o.codes[0].first_revealed_at = clock() - timedelta(minutes=1)
        db.session.commit()
    if why == "review":
        watch_list.add("contact", o.buyer_contact, 5, "x", OPERATOR)
        rules.change(str(S.WATCH_LIST), 1, None, OPERATOR)  # the watch list only asks a person
    case = apply(o)
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.state == State.SUBMITTED and case.auto_rule == "" and payouts(case) == 0


def test_merchant_opts_out_through_its_page(app, browser, clock):
    m = f.merchant("lane-shop")
    db.session.commit()
    f.staff("shopper", "merchant", "lane-shop")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "shopper", "password": "password-123"}
    )
    assert browser.client.post("/merchant/fast-lane/out", data={}).status_code in (303, 400)
    assert not fast_lane.for_shop(m.id).opted_out  # no token: nothing
    r = browser.submit("/merchant/fast-lane/", "/merchant/fast-lane/out", {})
    assert r.status_code == 303 and fast_lane.for_shop(m.id).opted_out
    ev = db.session.scalar(select(Event).where(Event.kind == "fast_lane_opted_out"))
    assert ev.data == {"merchant_id": m.id} and ev.actor_role == "merchant"
    assert browser.client.get("/review/risk/fast-lane").status_code == 403


def test_merchant_silence_never_approves_a_high_risk_case(app, clock):
    o = order_for(clock, contact="silent@example.com")
    case = apply(o)
    assert case.risk_level == "low"
    watch_list.add("contact", "silent@example.com", 30, "abuse", OPERATOR)  # after filing
    clock.set(case.merchant_deadline_at)
    assert deadline_rules.fire("merchant_silence", case.id)
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.state == State.SUBMITTED and payouts(case) == 0
    assert case.merchant_deadline_at is None and events(case, "auto_approval_held") == 1
    assert not deadline_rules.fire("merchant_silence", case.id)  # not due again


# ---- efficiency and the reviewer's page ---------------------------------------------------


def test_signals_take_a_few_statements_whatever_the_history(app, clock):
    def statements_for(case):
        seen = []

        def count(*_a, **_k):
            seen.append(1)

        db.session.expire_all()
        c = db.session.get(RefundCase, case.id)
        o = c.order
        list(o.codes), o.payment, list(c.evidence)  # loaded as the page has them
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assessment.measure(c, o)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    first = apply(
        order_for(clock, contact="many@example.com", extra={"openid": "O1"}), address="192.0.2.1"
    )
    few = statements_for(first)
    for _ in range(30):
        apply(order_for(clock, contact="many@example.com"), address="192.0.2.1")
        clock.advance(minutes=1)
    assert statements_for(first) == few <= 3  # the rules, the history, the watch list in one


def test_reviewer_sees_each_signal_with_its_reason(app, browser, clock):
    o = order_for(clock)
    o.codes[0].first_revealed_at = clock() - timedelta(minutes=5)
    db.session.commit()
    case = apply(o)
    f.staff("rev-r")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-r", "password": "password-123"}
    )
    html = browser.get(f"/review/cases/{case.case_no}").get_data(as_text=True)
    assert "Needs a closer look" in html
    assert "before this claim that it is invalid" in html


def test_risk_pages_stay_small(app, browser, supervisor, clock):
    import gzip

    for i in range(30):
        watch_list.add("contact", f"abuser{i}@example.com", 30, "confirmed abuse " * 5, OPERATOR)
        f.merchant()
    db.session.commit()
    sizes = {}
    for url in ("/review/risk/", "/review/risk/watch", "/review/risk/fast-lane"):
        r = browser.get(url)
        assert r.status_code == 200
        sizes[url] = len(gzip.compress(r.get_data()))
    print("gzip sizes", sizes)
    assert max(sizes.values()) < 14 * 1024, sizes


def test_the_queue_marks_high_risk_cases(app, browser, clock):
    watch_list.add("contact", "q@example.com", 30, "abuse", OPERATOR)
    high = apply(order_for(clock, contact="q@example.com"))
    low = apply(order_for(clock, contact="fine@example.com"))
    f.staff("rev-q")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-q", "password": "password-123"}
    )
    html = browser.get("/review/").get_data(as_text=True)
    rows = {no: html.split(no, 1)[1].split("</tr>", 1)[0] for no in (high.case_no, low.case_no)}
    assert "High risk" in rows[high.case_no] and "High risk" not in rows[low.case_no]


def test_buyer_form_through_the_fast_lane_with_a_forged_forwarded_header(app, browser, clock):
    from tests.test_buyer_flow import login_order

    m = f.merchant()
    db.session.commit()
    lane(m, 20000)
    order = f.order(clock(), m=m)
    assert login_order(browser, order).status_code == 303
    url = f"/orders/{order.order_no}/apply"
    from tests.conftest import csrf_from

    token = csrf_from(browser.get(url).get_data(as_text=True))
    r = browser.client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "",
            "explanation": "code fails",
        },
        headers={"X-Forwarded-For": "' OR 1=1 --, 10.0.0.1"},  # no proxy trusted: ignored
    )
    assert r.status_code == 303
    case = db.session.scalar(select(RefundCase))
    assert case.applicant_address == "127.0.0.1"  # the connection's own address
    assert case.state == State.REFUNDING and case.auto_rule == "fast_invalid_unrevealed"
    assert payouts(case) == 1
    html = browser.get(f"/cases/{case.case_no}").get_data(as_text=True)
    assert "fast lane" in html  # the buyer reads why it was approved at once


def test_an_order_sent_through_the_api_keeps_the_payer_id(app, client):
    from portal.models import Order
    from tests.api_helpers import order_body, shop

    s, _ = shop(client)
    body = order_body("PAYER1")
    body["payment"]["extra"] = {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "note": "x"}
    assert s.post("/orders", body).status_code == 201
    order = db.session.scalar(select(Order).where(Order.order_no == "PAYER1"))
    assert order.payment.payer_id == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
