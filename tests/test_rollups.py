"""Daily rollups: a seeded history over several days (filings, approvals, rejections, an
appeal overturned, an automatic approval, merchants' answers, payouts that arrived), rolled
up by the job; the dashboard's figures equal the same figures computed directly from the
cases, events, orders and payouts. A rebuild run twice writes the same rows; a day rebuilt
after a late event takes it in; the sweep enqueues today's and, once, yesterday's rebuild;
the command line rebuilds a range."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from jobs import rollups as rollup_jobs
from jobs.runtime import set_app
from portal.domain import rollups
from portal.domain.payout_states import PayoutState
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import Event, Order, Payment, Payout, RefundCase, daily_rollups
from portal.services import context
from portal.services.actors import Actor
from portal.services.refunds import cases, disputes
from portal.services.reports import backlog as backlogs
from portal.services.reports import dashboard
from portal.services.reports import rollups as rollup_service
from tests import factories as f
from tests.test_settlement import work

REASONS = (Reason.UNUSABLE, Reason.NOT_AS_DESCRIBED, Reason.UNUSABLE)
#: the history's buyers; the third and fourth are one buyer as the order lookup reads contacts
BUYERS = ("13900000001", "13900000002", " Buyer@Example.cn", "buyer@example.cn ", "13900000003")


def bought(clock, shop, product, buyer, **kw):
    o = f.order(clock(), m=shop, p=product, **kw)
    o.buyer_contact = buyer
    db.session.flush()
    return o


def apply(order, reason=Reason.UNUSABLE, amount=100):
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, reason, amount, "the code does not work at all")
    )


@pytest.fixture
def history(app, clock):
    """Four days of cases on two shops (three products), decided at different speeds."""
    rev = Actor(Role.REVIEWER, f.staff("rev-h1").id, "R1")
    rev2 = Actor(Role.REVIEWER, f.staff("rev-h2").id, "R2")
    a, b = f.merchant("shop-a"), f.merchant("shop-b")
    db.session.commit()
    shop_a = Actor(Role.MERCHANT, f.staff("a-staff", "merchant", "shop-a").id, "A", a.id)
    products = [f.product(a), f.product(a), f.product(b)]
    db.session.commit()
    first_day = rollups.day_of(clock())
    rejected = []
    for day in range(4):
        made = []
        for i in range(3 + day):
            p = products[i % 3]
            shop = a if p.merchant_id == a.id else b
            buyer = BUYERS[(day * 3 + i) % len(BUYERS)]
            made.append(apply(bought(clock, shop, p, buyer), REASONS[i % 3]))
        # orders paid through another route that nobody asks a refund for
        bought(clock, a, products[0], BUYERS[day % len(BUYERS)], channel="otherpay")
        db.session.commit()
        clock.advance(minutes=30 + 300 * day)
        for c in made:
            if c.merchant_id == a.id:
                disputes.post_message(c, shop_a, "we are looking")
        clock.advance(hours=2 * day + 1)
        cases.approve(made[0], rev)
        cases.reject(made[1], rev, "used")
        rejected.append(made[1])
        if day % 2:
            cases.approve(made[2], rev, 60)
        elif day == 0:
            slow = made[2]  # decided days later
        clock.advance(hours=3)
        work(app)  # the payouts arrive
        clock.advance(hours=20)
    cases.approve(db.session.get(RefundCase, slow.id), rev)
    # an appeal decided for the buyer, another decided against
    for c, decide in ((rejected[0], "approve"), (rejected[1], "reject")):
        disputes.appeal(db.session.get(RefundCase, c.id), "I never used the code at all.", [])
        c = db.session.get(RefundCase, c.id)
        if decide == "approve":
            cases.approve(c, rev2)
        else:
            cases.reject(c, rev2, "still used")
    # an automatic approval: an instant delivery that never came
    auto = apply(
        f.order(clock(), m=b, p=products[2], delivered_after=None, paid_ago=timedelta(hours=2)),
        Reason.NOT_DELIVERED,
    )
    assert db.session.get(RefundCase, auto.id).auto_rule
    clock.advance(hours=1)
    work(app)
    last_day = rollups.day_of(clock())
    rollup_service.rebuild(first_day - timedelta(days=2), last_day)
    return {"a": a, "b": b, "products": products, "first": first_day, "last": last_day}


def direct(first: date, last: date, shop=None, product=None, channel="") -> dict:
    """The figures computed from the cases, events, orders and payouts themselves."""
    start, end = rollups.day_bounds(first, last)
    calendar = context.calendar()
    target = context.setting("REVIEW_TARGET_WORKING_DAYS")

    def inside(moment) -> bool:
        return moment is not None and start <= moment < end

    payments = {p.order_id: p.channel for p in db.session.scalars(select(Payment))}
    orders = {o.id: o for o in db.session.scalars(select(Order))}
    all_cases = {c.id: c for c in db.session.scalars(select(RefundCase))}
    with_case = {c.order_id for c in all_cases.values()}

    def came_back(order, after) -> bool:
        who = order.buyer_contact.strip().lower()
        return bool(order.buyer_contact) and any(
            o.buyer_contact.strip().lower() == who
            and o.merchant_id == order.merchant_id
            and o.erased_at is None
            and after < o.paid_at <= after + timedelta(days=rollups.COME_BACK_DAYS)
            for o in orders.values()
        )

    def keeps(merchant_id, order_id, ch) -> bool:
        o = orders[order_id]
        return (
            (shop is None or merchant_id == shop)
            and (product is None or o.product_id == product)
            and (not channel or ch == channel)
        )

    t: Counter = Counter()
    reasons: dict[str, Counter] = {}
    review, answer = [0] * rollups.BUCKETS, [0] * rollups.BUCKETS
    for o in orders.values():
        if inside(o.paid_at) and keeps(o.merchant_id, o.id, payments.get(o.id, "")):
            t["paid"] += 1
            if o.id not in with_case:
                t["unasked"] += 1
                t["unasked_back"] += came_back(o, o.paid_at)
    for c in all_cases.values():
        if inside(c.created_at) and keeps(c.merchant_id, c.order_id, payments.get(c.order_id, "")):
            t["filed"] += 1
            reasons.setdefault(c.reason, Counter())["filed"] += 1
    events = db.session.scalars(select(Event).where(Event.case_id.is_not(None))).all()
    first_answer: dict[int, object] = {}
    for e in sorted(events, key=lambda e: (e.created_at, e.id)):
        if e.actor_role == str(Role.MERCHANT) and e.case_id not in first_answer:
            first_answer[e.case_id] = e.created_at
    for e in events:
        c = all_cases[e.case_id]
        if e.kind != "transition" or not inside(e.created_at):
            continue
        if not keeps(c.merchant_id, c.order_id, payments.get(c.order_id, "")):
            continue
        r = reasons.setdefault(c.reason, Counter())
        if e.to_state == State.APPROVED:
            t["refunded"] += 1
            r["refunded"] += 1
            t["refunded_fen"] += c.amount_approved_fen or 0
            t["refunded_back"] += came_back(orders[c.order_id], e.created_at)
            t["automatic"] += bool(c.auto_rule)
            t["overturned"] += e.from_state == State.APPEALED
        if e.to_state == State.REJECTED:
            t["rejected"] += 1
            r["rejected"] += 1
            t["rejected_back"] += came_back(orders[c.order_id], e.created_at)
        if e.to_state == State.APPEALED:
            t["appeals"] += 1
        if e.to_state == State.PAYOUT_FAILED and c.auto_rule:
            t["auto_reversed"] += 1
        if e.to_state in (State.APPROVED, State.REJECTED) and e.from_state != State.APPEALED:
            t["decided"] += 1
            t["decided_on_time"] += (
                calendar.working_days_between(c.created_at, e.created_at) < target
            )
            review[rollups.bucket_of((e.created_at - c.created_at).total_seconds())] += 1
    for case_id, at in first_answer.items():
        c = all_cases[case_id]
        if inside(at) and keeps(c.merchant_id, c.order_id, payments.get(c.order_id, "")):
            t["answered"] += 1
            answer[rollups.bucket_of((at - c.created_at).total_seconds())] += 1
    per_channel: dict[str, list] = {}
    for p in db.session.scalars(select(Payout)):
        c = all_cases[p.case_id]
        if p.state != PayoutState.SUCCEEDED or not inside(p.settled_at):
            continue
        if not keeps(c.merchant_id, c.order_id, p.channel):
            continue
        row = per_channel.setdefault(p.channel, [0, 0, [0] * rollups.BUCKETS])
        row[0] += 1
        row[1] += p.expected_arrival_at is None or p.settled_at <= p.expected_arrival_at
        row[2][rollups.bucket_of((p.settled_at - p.created_at).total_seconds())] += 1
    return {
        "totals": t,
        "reasons": {k: v for k, v in reasons.items() if +v},
        "review": review,
        "answer": answer,
        "channels": per_channel,
    }


def shown(d: dashboard.Dashboard) -> dict:
    """The same figures as the dashboard has them."""
    keys = ("paid", "filed", "refunded", "refunded_fen", "rejected", "decided", "decided_on_time")
    keys += ("automatic",)
    keys += ("auto_reversed", "appeals", "overturned", "answered")
    keys += ("refunded_back", "rejected_back", "unasked", "unasked_back")
    return {
        "totals": Counter({k: d.totals[k] for k in keys if d.totals[k]}),
        "reasons": {
            r.reason: Counter(
                {
                    k: v
                    for k, v in (
                        ("filed", r.filed),
                        ("refunded", r.refunded),
                        ("rejected", r.rejected),
                    )
                    if v
                }
            )
            for r in d.reasons
            if r.filed or r.refunded or r.rejected
        },
        "review": list(d.review.counts),
        "answer": list(d.answer.counts),
        "channels": {c.channel: [c.arrived, c.on_time, list(c.times.counts)] for c in d.channels},
    }


def test_the_dashboard_equals_a_direct_count_over_the_cases(history):
    h = history
    first, last = h["first"], h["last"]
    a, b, products = h["a"], h["b"], h["products"]
    cases_ = [
        {},
        {"shop": a.id},
        {"shop": b.id},
        {"shop": a.id, "product": products[1].id},
        {"channel": "otherpay"},
        {"channel": "fakepay"},
    ]
    for kw in cases_:
        for span in ((first, last), (first + timedelta(days=1), first + timedelta(days=2))):
            expected = direct(*span, **kw)
            got = dashboard.build(
                dashboard.filters(
                    kw.get("shop"),
                    kw.get("product"),
                    kw.get("channel", ""),
                    *(d.isoformat() for d in span),
                )
            )
            assert shown(got) == {**expected, "totals": +expected["totals"]}, (kw, span)
    everything = direct(first, last)["totals"]
    # the history really has each kind of figure
    for k in ("paid", "filed", "refunded", "rejected", "decided", "automatic", "appeals"):
        assert everything[k] > 0, k
    assert everything["overturned"] == 1 and everything["answered"] > 0
    # buyers who came back, and who did not, after each kind of ending
    for k in ("refunded", "rejected", "unasked"):
        assert 0 < everything[f"{k}_back"] < everything[k], k
    assert sum(direct(first, last)["review"][:3]) and sum(direct(first, last)["review"][3:])
    assert 0 < everything["decided_on_time"] < everything["decided"]


def _decided_at(clock, shop, filed, decided, reject=False):
    """A case filed at ``filed`` and decided at ``decided`` (Beijing wall times)."""
    rev = Actor(Role.REVIEWER, f.staff(f"rev-{shop.id}-{filed:%m%d%H}-{decided:%m%d%H}").id, "R")
    clock.set(filed.replace(tzinfo=rollups.BEIJING))
    c = apply(f.order(clock(), m=shop))
    clock.set(decided.replace(tzinfo=rollups.BEIJING))
    c = db.session.get(RefundCase, c.id)
    if reject:
        cases.reject(c, rev, "used")
    else:
        cases.approve(c, rev)
    return c


def _on_time(shop, first, last) -> tuple[int, int]:
    d = dashboard.build(dashboard.filters(shop.id, None, "", first.isoformat(), last.isoformat()))
    return d.totals["decided_on_time"], d.totals["decided"]


def test_decided_within_three_working_days_not_seventy_two_hours(app, clock):
    from datetime import datetime

    shop = f.merchant("shop-wd")
    db.session.commit()
    # filed Friday 2026-03-06 10:00; decided Tuesday 09:00 (95 hours: past 72, but only two
    # working days, Monday and Tuesday, have passed), and Wednesday 11:00 (past the deadline,
    # Wednesday 10:00)
    on_time = _decided_at(clock, shop, datetime(2026, 3, 6, 10), datetime(2026, 3, 10, 9))
    _decided_at(clock, shop, datetime(2026, 3, 6, 10), datetime(2026, 3, 11, 11), reject=True)
    c = db.session.get(RefundCase, on_time.id)
    assert c.created_at.weekday() == 4  # a Friday (in UTC too: 02:00)
    first, last = date(2026, 3, 6), date(2026, 3, 11)
    rollup_service.rebuild(first, last)
    assert _on_time(shop, first, last) == (1, 2)
    # by the old reckoning (72 hours of calendar time) neither was on time
    review = dashboard.build(
        dashboard.filters(shop.id, None, "", first.isoformat(), last.isoformat())
    ).review.counts
    assert sum(review[: rollups.EDGES_MINUTES.index(3 * 24 * 60) + 1]) == 0
    assert _on_time(shop, first, last) == (
        direct(first, last, shop=shop.id)["totals"]["decided_on_time"],
        2,
    )


def test_a_public_holiday_is_not_a_working_day(app, clock):
    from datetime import datetime

    shop = f.merchant("shop-hol")
    db.session.commit()
    # filed Tuesday 2026-09-29 10:00, before the National Day holiday (1 to 7 October);
    # working days after it: 30 September, then 8 and 9 October: due Friday 9 October 10:00
    assert not context.calendar().is_working_day(date(2026, 10, 5))  # a Monday, a holiday
    _decided_at(clock, shop, datetime(2026, 9, 29, 10), datetime(2026, 10, 9, 9))
    _decided_at(clock, shop, datetime(2026, 9, 29, 10), datetime(2026, 10, 9, 11), reject=True)
    first, last = date(2026, 9, 29), date(2026, 10, 9)
    rollup_service.rebuild(first, last)
    assert _on_time(shop, first, last) == (1, 2)
    assert direct(first, last, shop=shop.id)["totals"]["decided_on_time"] == 1


def _rows() -> list[tuple]:
    table = daily_rollups
    return [tuple(r) for r in db.session.execute(select(table).order_by(*table.primary_key))]


def test_a_rebuild_run_twice_writes_the_same_rows(app, history):
    before = _rows()
    assert before
    set_app(app)
    for day in {r[0] for r in before}:
        assert rollup_jobs.rebuild_day(day) >= 1
        assert rollup_jobs.rebuild_day(day) >= 1
    assert _rows() == before
    rollup_service.rebuild(history["first"], history["last"])
    assert _rows() == before


def test_a_day_rebuilt_after_a_late_event_counts_it(app, history, clock):
    h = history
    day = h["first"] + timedelta(days=1)
    f_ = dashboard.filters(None, None, "", day.isoformat(), day.isoformat())
    paid = dashboard.build(f_).totals["paid"]
    # an order imported now with a payment time on that day
    paid_at = rollups.day_bounds(day, day)[0] + timedelta(hours=3)
    late = f.order(clock(), m=h["a"], p=h["products"][0], paid_ago=clock() - paid_at)
    db.session.commit()
    assert rollups.day_of(late.paid_at) == day
    assert dashboard.build(f_).totals["paid"] == paid  # not rolled up yet
    set_app(app)
    rollup_jobs.rebuild_day(day.isoformat())
    assert dashboard.build(f_).totals["paid"] == paid + 1
    assert dashboard.build(f_).totals["paid"] == direct(day, day)["totals"]["paid"]


def test_the_sweep_enqueues_today_and_yesterday_once(app, clock):
    set_app(app)
    with app.app_context():
        assert rollup_jobs.enqueue_due() == 2  # today's, and yesterday's final rebuild
        assert rollup_jobs.enqueue_due() == 0  # both still waiting
        today = rollups.day_of(clock())
        queued = sorted((j.func_name, j.args) for j in queue().jobs)
        month = today - timedelta(days=rollups.COME_BACK_DAYS + 1)
        assert queued == [
            ("jobs.rollups.rebuild_day", (today.isoformat(),)),
            (
                "jobs.rollups.rebuild_days",
                (month.isoformat(), (today - timedelta(days=1)).isoformat()),
            ),
        ]
        work(app)
        assert rollup_jobs.enqueue_due() == 1  # today's again, never yesterday's twice


def test_yesterday_waits_an_hour_past_midnight_for_late_arrivals(app, clock):
    set_app(app)
    midnight = rollups.day_bounds(rollups.day_of(clock()), rollups.day_of(clock()))[1]
    clock.set(midnight + timedelta(minutes=5))
    assert rollup_jobs.enqueue_due() == 1  # today's only
    work(app)
    clock.set(midnight + rollup_jobs.FINAL_AFTER)
    assert rollup_jobs.enqueue_due() == 2  # and now yesterday's, once
    work(app)
    clock.advance(minutes=1)
    assert rollup_jobs.enqueue_due() == 1


def test_the_sweep_counts_the_backlog_once_a_minute(app, clock):
    set_app(app)
    apply(f.order(clock()))
    assert rollup_jobs.enqueue_backlog() == 1
    assert rollup_jobs.enqueue_backlog() == 0  # a copy is waiting
    work(app)
    assert backlogs.of(None).taken_at == clock() and backlogs.of(None).total == 1
    assert rollup_jobs.enqueue_backlog() == 1


def test_the_job_refuses_what_is_not_a_day(app):
    set_app(app)
    for bad in ("2026-02-30", "yesterday", "2026-1-1", ""):
        with pytest.raises(ValueError):
            rollup_jobs.rebuild_day(bad)


def test_the_command_rebuilds_a_range(app, history):
    h = history
    db.session.execute(daily_rollups.delete())
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(
        args=[
            "rollups",
            "rebuild",
            "--since",
            (h["first"] - timedelta(days=2)).isoformat(),
            "--until",
            h["last"].isoformat(),
        ]
    )
    assert out.exit_code == 0, out.output
    assert "rows" in out.output
    everything = direct(h["first"], h["last"])
    d = dashboard.build(
        dashboard.filters(None, None, "", h["first"].isoformat(), h["last"].isoformat())
    )
    assert shown(d) == {**everything, "totals": +everything["totals"]}
    for bad in (["--since", "junk"], ["--since", "2026-03-10", "--until", "2026-03-01"]):
        refused = runner.invoke(args=["rollups", "rebuild", *bad])
        assert refused.exit_code != 0 and "Traceback" not in refused.output


def test_orders_imported_with_an_old_payment_time_have_their_day_rebuilt(app, clock):
    from portal.services.integration import csv_import, ingest
    from tests.test_csv_import import HEADER, row

    set_app(app)
    shop = f.merchant("shop-late")
    db.session.commit()
    assert rollup_jobs.enqueue_due() == 2
    work(app)
    old = rollups.day_of(clock()) - timedelta(days=5)
    paid = f"{old.isoformat()}T10:00:00+08:00"
    text = HEADER + row(1, paid_at=paid) + row(2, paid_at=paid)
    assert csv_import.import_orders(shop.id, text, ingest.shop_actor(shop.id)) == 2
    f_ = dashboard.filters(shop.id, None, "", old.isoformat(), old.isoformat())
    assert dashboard.build(f_).totals["paid"] == 0
    clock.advance(minutes=1)
    assert rollup_jobs.enqueue_due() == 2  # today's and the old day's
    work(app)
    assert dashboard.build(f_).totals["paid"] == 2
    # looked at again while the slack still reaches the import (harmless), then no more
    later = []
    for _ in range(3):
        clock.advance(minutes=rollup_jobs.LATE_SLACK.total_seconds() // 60)
        later.append(rollup_jobs.enqueue_due())
        work(app)
    assert later == [2, 1, 1]
