"""Two reviewers deciding the same case at the same instant: one wins, the other is told."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Payout, RefundCase
from portal.services.actors import Actor
from portal.services.errors import ConcurrentChange, DomainError
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import PG_URL


def test_concurrent_double_decision(app, clock):
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )
    a, b = f.staff("a"), f.staff("b")
    actors = [Actor(Role.REVIEWER, a.id, "A"), Actor(Role.REVIEWER, b.id, "B")]
    decisions = [
        lambda c, who: cases.approve(c, who, None, "yes"),
        lambda c, who: cases.reject(c, who, "no"),
    ]
    case_id = case.id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def reviewer(i: int) -> None:
        with app.app_context():
            mine = db.session.get(RefundCase, case_id)
            assert mine.state == "submitted"  # both read the case before either decides
            barrier.wait()
            try:
                decisions[i](mine, actors[i])
                outcomes[i] = "won"
            except ConcurrentChange as exc:
                outcomes[i] = exc
            except DomainError as exc:  # pragma: no cover - reported for diagnosis
                outcomes[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrentChange", "str"], outcomes
    loser = next(o for o in outcomes if o != "won")
    assert "Someone else changed this case" in str(loser)
    db.session.expire_all()
    final = db.session.get(RefundCase, case_id)
    winner = outcomes.index("won")
    assert final.state == ("refunding" if winner == 0 else "rejected")
    payouts = db.session.scalar(select(func.count()).select_from(Payout))
    assert payouts == (1 if winner == 0 else 0)
    transitions = db.session.scalars(
        select(Event.to_state).where(Event.case_id == case_id, Event.kind == "transition")
    ).all()
    assert transitions == (["approved", "refunding"] if winner == 0 else ["rejected"])


def test_runs_on_the_configured_database(app):
    """The PostgreSQL run of CI really is on PostgreSQL (guards the configuration)."""
    dialect = db.engine.dialect.name
    assert dialect == ("postgresql" if PG_URL else "sqlite")
