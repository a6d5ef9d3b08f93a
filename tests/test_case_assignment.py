"""Who works a case: claiming, taking the next one by deadline, giving it back and a
supervisor's reassignment. Whoever comes second gets a 409; only a supervisor reassigns; an
appeal never goes to the reviewer who rejected the case; every change is an audit event."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.domain import assignment as rules
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, RefundCase, User
from portal.services.actors import Actor
from portal.services.errors import Conflict, Forbidden
from portal.services.refunds import assignment, cases, disputes
from tests import factories as f
from tests.conftest import PG_URL, Browser, FreshGClient, csrf_from
from tests.test_case_lists import bulk_cases
from tests.test_dispute_pages import staff_login


def actor(user: User) -> Actor:
    return Actor(Role.REVIEWER, user.id, user.display_name)


def logged_in(app, username):
    app.test_client_class = FreshGClient  # each request its own g, as in production
    c = app.test_client()
    staff_login(Browser(c), username)
    return c


def post(client, page: str, action: str, data: dict | None = None):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **(data or {})})


def a_case(clock):
    order = f.order(clock())
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )


def events(case_no: str) -> list[Event]:
    case_id = db.session.scalar(select(RefundCase.id).where(RefundCase.case_no == case_no))
    return list(
        db.session.scalars(
            select(Event).where(Event.case_id == case_id, Event.kind.in_(rules.KINDS))
        )
    )


# -- hostile first -------------------------------------------------------------------------


def test_claiming_a_case_someone_holds_is_a_409(app, clock):
    f.staff("rev-a"), f.staff("rev-b")
    case_no = a_case(clock).case_no
    a, b = logged_in(app, "rev-a"), logged_in(app, "rev-b")
    page = f"/review/cases/{case_no}"
    assert post(a, page, f"{page}/claim").status_code == 303
    second = post(b, page, f"{page}/claim")
    assert second.status_code == 409
    assert "Another reviewer is already working on this case." in second.get_data(as_text=True)
    holder = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    assert holder.assignee.username == "rev-a"
    assert [(e.kind, e.data["to"]) for e in events(case_no)] == [
        (rules.CLAIMED, holder.assignee_id)
    ]


def test_only_a_supervisor_reassigns(app, clock):
    rev = f.staff("rev-a")
    case = a_case(clock)
    client = logged_in(app, "rev-a")
    page = f"/review/cases/{case.case_no}"
    r = post(client, page, f"{page}/assign", {"to": "rev-a", "expected": ""})
    assert r.status_code == 403
    # the service refuses it too, whoever calls it
    with pytest.raises(Forbidden):
        assignment.reassign(case, actor(rev), "rev-a", None)
    assert events(case.case_no) == []


def test_a_reassignment_from_a_stale_page_is_a_409(app, clock):
    f.staff("boss", role="supervisor")
    rev_a, rev_b = f.staff("rev-a"), f.staff("rev-b")
    case = a_case(clock)
    case_no = case.case_no
    boss = logged_in(app, "boss")
    page = f"/review/cases/{case_no}"
    shown = boss.get(page).get_data(as_text=True)  # unassigned when the supervisor looked
    assert "rev-b" in shown
    assignment.claim(case, actor(rev_a))  # meanwhile rev-a takes it
    token = csrf_from(shown)
    r = boss.post(f"{page}/assign", data={"csrf_token": token, "to": "rev-b", "expected": ""})
    assert r.status_code == 409
    assert (
        db.session.scalar(select(RefundCase.assignee_id).where(RefundCase.case_no == case_no))
        == rev_a.id
    )
    # from a fresh page, it goes through and is recorded
    r = post(boss, page, f"{page}/assign", {"to": "rev-b", "expected": str(rev_a.id)})
    assert r.status_code == 303
    assert (
        db.session.scalar(select(RefundCase.assignee_id).where(RefundCase.case_no == case_no))
        == rev_b.id
    )
    assert [e.kind for e in events(case_no)] == [rules.CLAIMED, rules.REASSIGNED]
    assert events(case_no)[-1].data == {"from": rev_a.id, "to": rev_b.id}


@pytest.mark.parametrize("to", ["nobody-here", "shop-staff", "x" * 500])
def test_reassigning_to_someone_who_is_not_a_reviewer_is_refused(app, clock, to):
    f.staff("boss", role="supervisor")
    shop = f.merchant("shop-x")
    f.staff("shop-staff", role="merchant", merchant_slug=shop.slug)
    case_no = a_case(clock).case_no
    boss = logged_in(app, "boss")
    page = f"/review/cases/{case_no}"
    r = post(boss, page, f"{page}/assign", {"to": to, "expected": "not-a-number"})
    assert r.status_code == 422
    assert events(case_no) == []


def test_the_reviewer_who_rejected_never_gets_the_appeal(app, clock):
    rejecter, other = f.staff("rev-a"), f.staff("rev-b")
    case = a_case(clock)
    cases.reject(case, actor(rejecter), "No proof")
    disputes.appeal(case, "The chat shows the code never worked", [])
    client = logged_in(app, "rev-a")
    page = f"/review/cases/{case.case_no}"
    assert "Take this case" not in client.get(page).get_data(as_text=True)
    assert post(client, page, f"{page}/claim").status_code == 403
    assert assignment.take_next(actor(rejecter)) is None  # not offered to them
    assert assignment.take_next(actor(other)) == case.case_no
    boss = f.staff("boss", role="supervisor")
    with pytest.raises(Forbidden):
        assignment.reassign(case, actor(boss), "rev-a", other.id)


def test_giving_back_a_case_that_is_not_yours_is_a_409(app, clock):
    rev_a, rev_b = f.staff("rev-a"), f.staff("rev-b")
    case = a_case(clock)
    assignment.claim(case, actor(rev_a))
    with pytest.raises(Conflict):
        assignment.release(case, actor(rev_b))
    assignment.release(case, actor(rev_a))
    assert db.session.get(RefundCase, case.id).assignee_id is None


def test_a_closed_case_cannot_be_taken(app, clock):
    rev = f.staff("rev-a")
    case = a_case(clock)
    cases.withdraw(case)
    with pytest.raises(Conflict):
        assignment.claim(db.session.get(RefundCase, case.id), actor(rev))


# -- taking the next one ---------------------------------------------------------------------


def test_take_the_next_one_by_deadline_never_twice(app, clock):
    shop = f.merchant()
    later = bulk_cases(clock, shop, 2, first_deadline=timedelta(days=2))
    sooner = bulk_cases(clock, shop, 2)
    rev_a, rev_b = f.staff("rev-a"), f.staff("rev-b")
    taken = [assignment.take_next(actor(u)) for u in (rev_a, rev_b, rev_a, rev_b)]
    assert taken == sooner + later
    assert assignment.take_next(actor(rev_a)) is None
    assert [len(events(n)) for n in taken] == [1, 1, 1, 1]


def test_take_next_button_and_my_cases(app, client, clock):
    f.staff("rev-a")
    numbers = bulk_cases(clock, f.merchant(), 3)
    client = logged_in(app, "rev-a")
    r = post(client, "/review/", "/review/take-next")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/review/cases/{numbers[0]}")
    mine = client.get("/review/?assigned=me").get_data(as_text=True)
    assert numbers[0] in mine and numbers[1] not in mine
    free = client.get("/review/?assigned=none").get_data(as_text=True)
    assert numbers[0] not in free and numbers[1] in free
    for _ in range(2):
        post(client, "/review/", "/review/take-next")
    r = post(client, "/review/", "/review/take-next")
    assert r.status_code == 303 and r.headers["Location"].endswith("/review/")
    assert "No case is waiting for a reviewer" in client.get("/review/").get_data(as_text=True)


def test_buyers_and_shops_do_not_see_who_works_the_case(app, clock):
    from portal.services.refunds.timeline import timeline

    rev = f.staff("rev-a")
    case = a_case(clock)
    assignment.claim(case, actor(rev))
    case = db.session.get(RefundCase, case.id)
    assert rules.CLAIMED in [e.kind for e in timeline(case, staff=True)]
    assert rules.CLAIMED not in [e.kind for e in timeline(case)]


@pytest.mark.skipif(not PG_URL, reason="row locks (FOR UPDATE SKIP LOCKED) need PostgreSQL")
def test_reviewers_taking_at_once_get_different_cases(app, clock):
    numbers = bulk_cases(clock, f.merchant(), 8)
    users = [f.staff(f"rev-{i}") for i in range(8)]
    ids = [(u.id, u.display_name) for u in users]
    db.session.commit()
    got: list[str | None] = []
    start = threading.Barrier(len(ids))

    def take(user_id: int, label: str) -> None:
        with app.app_context():
            start.wait()
            got.append(assignment.take_next(Actor(Role.REVIEWER, user_id, label)))
            db.session.remove()

    threads = [threading.Thread(target=take, args=pair) for pair in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for n in got if n) == sorted(numbers)
    assert None not in got


# -- only the reviewer who works a case (or a supervisor) acts on it ----------------------


def test_a_reviewer_cannot_decide_a_case_another_works(app, clock):
    f.staff("rev-a"), f.staff("rev-b")
    case_no = a_case(clock).case_no
    a, b = logged_in(app, "rev-a"), logged_in(app, "rev-b")
    page = f"/review/cases/{case_no}"
    assert post(a, page, f"{page}/claim").status_code == 303
    shown = b.get(page).get_data(as_text=True)
    assert "Another reviewer works this case" in shown
    assert f"{page}/approve" not in shown and f"{page}/reject" not in shown
    for action, data in (
        ("approve", {"approve-amount": "", "approve-note": ""}),
        ("reject", {"reject-note": "looks used"}),
        ("start", {}),
    ):
        r = post(b, page, f"{page}/{action}", data)
        assert r.status_code == 403, action
        assert "Another reviewer works this case" in r.get_data(as_text=True)
    db.session.expire_all()
    held = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    assert held.state == "submitted" and held.decided_by_id is None
    # the reviewer who holds it decides
    assert f"{page}/approve" in a.get(page).get_data(as_text=True)
    assert post(a, page, f"{page}/start").status_code in (200, 303)
    db.session.expire_all()
    assert db.session.get(RefundCase, held.id).state == "under_review"


def test_a_supervisor_may_decide_a_case_another_works(app, clock):
    rev = f.staff("rev-a")
    boss = f.staff("boss", role="supervisor")
    case = a_case(clock)
    assignment.claim(case, actor(rev))
    as_boss = Actor(Role.REVIEWER, boss.id, boss.display_name, supervisor=True)
    cases.start_review(case, as_boss)
    db.session.expire_all()
    assert db.session.get(RefundCase, case.id).state == "under_review"


def test_a_claim_landing_after_the_page_was_read_still_stops_the_decision(app, clock):
    """The case as read says nobody works it; a claim commits in between; the guarded update
    refuses the stale decision (claims do not move the case's version)."""
    from types import SimpleNamespace

    from portal.services.errors import ConcurrentChange
    from portal.services.refunds.transitions import transition

    rev_a, rev_b = f.staff("rev-a"), f.staff("rev-b")
    case = a_case(clock)
    seen = SimpleNamespace(
        **{
            k: getattr(case, k)
            for k in (
                "id",
                "case_no",
                "order_id",
                "state",
                "version",
                "deadline_at",
                "deadline_kind",
                "remind_at",
                "merchant_id",
            )
        },
        assignee_id=None,
    )
    assignment.claim(case, actor(rev_a))
    with pytest.raises(ConcurrentChange):
        transition(seen, State.UNDER_REVIEW, actor(rev_b))
    db.session.rollback()
    assert db.session.get(RefundCase, case.id).state == "submitted"
