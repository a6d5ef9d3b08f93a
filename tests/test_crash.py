"""Crash test: real ``rq worker`` processes SIGKILLed at random points during settlement.

After every trial's worker is killed, the sweep and a fresh worker are run until nothing
is left: every approved refund must end refunded exactly once, counted on the gateway
simulator's own ledger.

Each kill lands once the worker has taken work (a kill during start-up touches nothing, and
the final worker alone then proves what a trial would): half the trials inside the first
settlement, the others anywhere after it began (mid-job, between jobs, in the next job). A
worker takes about a second to start, so a trial costs that second; fewer trials, each
meaningful, keep the kills that count.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime

import pytest
from refund_portal_alipay.simulator import AlipaySimulator
from refund_portal_wechat.simulator import WechatSimulator
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import Payout, RefundCase
from portal.services.actors import Actor
from portal.services.refunds import cases
from tests import factories as f
from tests.live import kill_group, serve, start_worker, worker_env

TRIALS = int(os.environ.get("CRASH_TRIALS", "20"))
CASES_PER_TRIAL = 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fork", "trials"),
    [(True, TRIALS), (False, max(1, TRIALS // 2))],
    ids=["forking", "non-forking"],
)
def test_killed_workers_pay_every_refund_exactly_once(app, clock, tmp_path, fork, trials):
    """Forking workers are killed with their work-horse; non-forking ones with the job
    running in their own process."""
    from jobs.runtime import set_app
    from jobs.sweeps import sweep_payouts

    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261128")))
    keys = tmp_path / "keys"
    sims = {
        "wechat": WechatSimulator(str(keys), hang_s=3).start(),
        "alipay": AlipaySimulator(str(keys), hang_s=3).start(),
    }
    app.config.update(
        DEV_KEYS_DIR=str(keys),
        WECHAT_GATEWAY_URL=sims["wechat"].url,
        WECHAT_TIMEOUT=1,
        ALIPAY_GATEWAY_URL=sims["alipay"].url,
        ALIPAY_TIMEOUT=1,
    )
    from portal.plugins.startup import init_plugins

    init_plugins(app)  # now with the wechat and alipay channels
    clock.set(datetime.now(UTC))  # the worker processes run on the real clock
    reviewer_user = f.staff("crash")
    reviewer = Actor(Role.REVIEWER, reviewer_user.id, "crash")
    with serve(app) as base:
        app.config["PUBLIC_BASE_URL"] = base
        env = worker_env(
            app,
            {
                "PORTAL_DEV_KEYS_DIR": str(keys),
                "PORTAL_WECHAT_GATEWAY_URL": sims["wechat"].url,
                "PORTAL_WECHAT_TIMEOUT": "1",
                "PORTAL_ALIPAY_GATEWAY_URL": sims["alipay"].url,
                "PORTAL_ALIPAY_TIMEOUT": "1",
            },
        )
        expected: dict[str, int] = {}
        kills_mid_job = 0
        started = StartedJobRegistry(queue=queue())
        for trial in range(trials):
            for channel in ("wechat", "alipay")[:CASES_PER_TRIAL]:
                order = f.order(clock(), channel=channel, amount_fen=rng.randint(1, 50000))
                p = order.payment
                sims[channel].add_trade(p.gateway_trade_id, p.merchant_trade_no, order.amount_fen)
                case = cases.apply_for_refund(
                    order,
                    cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "x"),
                )
                cases.approve(case, reviewer)
            if rng.random() < 0.3:
                sims[rng.choice(["wechat", "alipay"])].misbehave(
                    rng.choice(["timeout_after_move", "system_error", "notify_twice"])
                )
            worker = start_worker(env, fork=fork)
            _wait_for_a_running_job(started, timeout=5)
            if trial % 2:
                time.sleep(rng.uniform(0.08, 0.8))  # anywhere later: mid-job, between jobs
            else:
                time.sleep(rng.uniform(0, 0.08))  # somewhere inside the first settlement
            kill_group(worker)
            if _job_running(started):
                kills_mid_job += 1
        db.session.expire_all()
        for payout in db.session.scalars(select(Payout)):
            expected[payout.idempotency_key] = payout.amount_fen

        # restart: the sweep (with the clock past every backoff) and a worker that is not killed
        set_app(app)
        for _ in range(6):
            clock.advance(hours=2)
            sweep_payouts(reschedule=False)
            worker = start_worker(env, log=str(tmp_path / "final-worker.log"), fork=fork)
            worker.wait(600)
            db.session.expire_all()
            left = db.session.scalars(select(Payout).where(Payout.state != "succeeded")).all()
            if not left:
                break
        db.session.expire_all()
        states = db.session.scalars(select(Payout.state)).all()
        log = (tmp_path / "final-worker.log").read_text(errors="replace")[-3000:]
        assert states and set(states) == {"succeeded"}, (_left_behind(), log)
        assert {c.state for c in db.session.scalars(select(RefundCase))} == {"refunded"}
        movements = [(m["out_refund_no"], m["amount_fen"]) for m in sims["wechat"].movements()]
        movements += [(m["out_request_no"], m["amount_fen"]) for m in sims["alipay"].movements()]
        moved_keys = [k for k, _ in movements]
        assert len(moved_keys) == len(set(moved_keys)), "a refund moved money twice"
        assert dict(movements) == expected
        if trials >= 10:
            assert kills_mid_job >= 1  # some kills landed in the middle of a settlement job
    for sim in sims.values():
        sim.stop()
    print(
        f"\ncrash test ({'forking' if fork else 'non-forking'} workers): {trials} trials, "
        f"{len(expected)} refunds, "
        f"{kills_mid_job} workers killed in the middle of a job, {len(movements)} movements"
    )


def _wait_for_a_running_job(registry: StartedJobRegistry, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not registry.get_job_ids():
        time.sleep(0.005)


def _job_running(registry: StartedJobRegistry) -> bool:
    """Whether a job was left STARTED by the killed worker (it died mid-job)."""
    ids = registry.get_job_ids()
    registry.connection.delete(registry.key)  # forget them: each trial counts afresh
    return bool(ids)


def _left_behind() -> list[dict]:
    """What a failure needs to explain itself: each unfinished payout and its once-key's job."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from portal.infra.queue import redis_connection

    conn = redis_connection()
    rows = []
    for p in db.session.scalars(select(Payout).where(Payout.state != "succeeded")):
        held = conn.get(f"portal:once:settle-{p.id}")
        job = None
        if held:
            try:
                found = Job.fetch(held.decode(), connection=conn)
                job = (found.get_status(), found.get_position())
            except NoSuchJobError:
                job = "gone"
        rows.append(
            {
                "id": p.id,
                "state": p.state,
                "attempts": p.attempts,
                "code": p.last_code,
                "next_attempt_at": p.next_attempt_at,
                "once_key": held,
                "once_job": job,
            }
        )
    return rows
