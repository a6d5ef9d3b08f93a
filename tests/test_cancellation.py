"""A cancelled order refunds itself along the original route: end to end through a real
``rq worker`` process and the Alipay gateway simulator."""

from __future__ import annotations

import pytest
from refund_portal_alipay.simulator import AlipaySimulator
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, Payout, RefundCase
from portal.services.errors import DomainError
from portal.services.refunds.cancellations import cancel_order
from tests import factories as f
from tests.live import serve, start_worker, worker_env


def test_cancelled_order_is_refunded_automatically(app, clock, tmp_path):
    from datetime import UTC, datetime

    clock.set(datetime.now(UTC))
    keys = tmp_path / "keys"
    with AlipaySimulator(keys) as sim:
        app.config.update(DEV_KEYS_DIR=str(keys), ALIPAY_GATEWAY_URL=sim.url)
        from portal.plugins.startup import init_plugins

        init_plugins(app)
        order = f.order(clock(), channel="alipay", delivered_after=None, amount_fen=4321)
        sim.add_trade(order.payment.gateway_trade_id, order.payment.merchant_trade_no, 4321)
        with serve(app) as base:
            app.config["PUBLIC_BASE_URL"] = base
            case = cancel_order(order, "out of stock")
            assert case is not None and case.reason == "cancelled"
            assert db.session.get(RefundCase, case.id).state == "refunding"
            env = worker_env(
                app, {"PORTAL_DEV_KEYS_DIR": str(keys), "PORTAL_ALIPAY_GATEWAY_URL": sim.url}
            )
            worker = start_worker(env, log=str(tmp_path / "worker.log"))
            assert worker.wait(60) == 0
        db.session.expire_all()
        payout = db.session.scalar(select(Payout))
        assert (
            payout.state == "succeeded" and payout.channel == "alipay" and payout.amount_fen == 4321
        )
        assert db.session.get(RefundCase, case.id).state == "refunded"
        assert [m["amount_fen"] for m in sim.movements()] == [4321]
        kinds = db.session.scalars(
            select(Event.kind).where(Event.order_id == order.id).order_by(Event.id)
        ).all()
        assert kinds[0] == "order_cancelled" and "payout_succeeded" in kinds
        # cancelling again changes nothing and moves no money
        assert cancel_order(db.session.get(type(order), order.id), "again").id == case.id
        assert len(sim.movements()) == 1


def test_cancel_is_refused_with_an_open_case_or_used_goods(app, clock):
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases

    order = f.order(clock())
    cases.apply_for_refund(order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"))
    with pytest.raises(DomainError, match="open refund case"):
        cancel_order(order, "oops")
    assert db.session.get(type(order), order.id).cancelled_at is None
    used = f.order(clock(), used=True)
    with pytest.raises(DomainError, match="already used"):
        cancel_order(used, "oops")
