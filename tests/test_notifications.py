"""Notices: the inbox with its unread count, e-mail to a real local SMTP server, and notifier
plugins that fail or hang without failing the case."""

from __future__ import annotations

import threading
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal import hookimpl
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Notice, RefundCase
from portal.services.actors import Actor
from portal.services.messaging import delivery
from portal.services.refunds import cases
from tests import factories as f
from tests.test_buyer_flow import login_order


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(app):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield box
    controller.stop()


def rejected_case(clock):
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )
    u = f.staff("n-rev")
    cases.reject(case, Actor(Role.REVIEWER, u.id, "R"), "No proof")
    return db.session.get(RefundCase, case.id)


def test_buyer_sees_unread_count_and_inbox(app, browser, clock):
    case = rejected_case(clock)
    login_order(browser, case.order)
    html = browser.get("/").get_data(as_text=True)
    assert "Inbox (1)" in html
    inbox = browser.get("/inbox").get_data(as_text=True)
    assert case.case_no in inbox and "Rejected" in inbox
    assert browser.submit("/inbox", "/inbox", {}).status_code == 303
    assert "Inbox (" not in browser.get("/").get_data(as_text=True)
    stranger = app.test_client()
    assert case.case_no not in stranger.get("/inbox").get_data(as_text=True)


def test_email_reaches_a_local_smtp_server_in_chinese(app, clock, smtp):
    case = rejected_case(clock)
    notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
    assert delivery.deliver(notice.id) == "delivered"
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["buyer@example.com"]
    body = mail.content.decode("utf-8", "replace")
    assert case.case_no in body
    assert delivery.deliver(notice.id) == "already delivered"  # run twice: sent once
    assert len(smtp.messages) == 1


class Failing:
    @hookimpl
    def send_notice(self, notice):
        raise RuntimeError("SMS gateway down")


class Hanging:
    """A notifier that hangs until the test lets it go (it never outlives the test)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    @hookimpl
    def send_notice(self, notice):
        self.released.wait(30)


@pytest.mark.parametrize(
    ("plugin", "message"), [(Failing(), "SMS gateway down"), (Hanging(), "timed out")]
)
def test_failing_or_hanging_notifier_is_retried_and_the_case_goes_on(app, clock, plugin, message):
    app.config["NOTIFIER_TIMEOUT"] = 0.3
    pm = app.extensions["portal.plugins.manager"]
    pm.register(plugin, name="bad-notifier")
    try:
        case = rejected_case(clock)  # the state change itself is not held up
        assert case.state == "rejected"
        notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
        started = time.monotonic()
        with pytest.raises(delivery.DeliveryFailed, match=message):
            delivery.deliver(notice.id)
        assert time.monotonic() - started < 3
        db.session.expire_all()
        n = db.session.get(Notice, notice.id)
        assert n.delivered_at is None and n.attempts == 1 and message in n.last_error
        assert db.session.get(RefundCase, case.id).state == "rejected"
    finally:
        pm.unregister(name="bad-notifier")
        if isinstance(plugin, Hanging):
            plugin.released.set()


def test_notice_delivery_is_one_job_per_transaction_with_retries(app, clock, smtp):
    from portal.infra.queue import queue

    rejected_case(clock)
    jobs = [j for j in queue().jobs if j.func_name == "jobs.notify.deliver_many"]
    # two transactions wrote notices: the application and the rejection
    assert len(jobs) == 2 and all(j.retries_left == 5 for j in jobs)
    buyer_notice_ids = set(db.session.scalars(select(Notice.id)))
    assert set().union(*(j.args[0] for j in jobs)) == buyer_notice_ids


def test_no_delivery_jobs_when_the_inbox_is_the_only_channel(app, clock):
    from portal.infra.queue import queue

    rejected_case(clock)  # no SMTP server, only the built-in log notifier
    assert not [j for j in queue().jobs if j.func_name.startswith("jobs.notify")]
    assert db.session.scalar(select(Notice.id)) is not None  # the inbox still has them


class Recording:
    """A notifier that takes every notice (an SMS gateway that answered OK)."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    @hookimpl
    def send_notice(self, notice):
        self.sent.append(notice.id)


def test_a_retry_after_one_channel_failed_sends_only_through_the_others(app, clock, smtp):
    pm = app.extensions["portal.plugins.manager"]
    sms, down = Recording(), Failing()
    pm.register(sms, name="sms-ok")
    pm.register(down, name="bad-notifier")
    try:
        rejected_case(clock)
        notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
        for _ in range(3):  # the job's retries while one notifier stays down
            with pytest.raises(delivery.DeliveryFailed, match="SMS gateway down"):
                delivery.deliver(notice.id)
        pm.unregister(name="bad-notifier")
        assert delivery.deliver(notice.id) == "delivered"
        assert delivery.deliver(notice.id) == "already delivered"
    finally:
        pm.unregister(name="sms-ok")
        if pm.has_plugin("bad-notifier"):
            pm.unregister(name="bad-notifier")
    assert sms.sent == [notice.id]  # one SMS, though the notice was tried five times
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(smtp.messages) == 1  # and one e-mail
    db.session.expire_all()
    stored = db.session.get(Notice, notice.id)
    assert stored.attempts == 4
    assert {"mail", "sms-ok"} <= set(stored.delivered_via)
    assert "bad-notifier" not in stored.delivered_via
    assert len(stored.delivered_via) == len(set(stored.delivered_via))


def test_staff_with_many_unread_notices_see_99_plus_and_the_count_stops_there(app, browser, clock):
    from portal.services.messaging import notices
    from portal.views.inbox import shown

    f.staff("rev1")
    now = clock()
    db.session.add_all(
        Notice(
            audience=notices.STAFF,
            kind="escalated",
            message=notices.ESCALATED_STAFF,
            params={"case_no": "RF1"},
            created_at=now,
        )
        for _ in range(notices.UNREAD_SHOWN_MAX + 30)
    )
    db.session.commit()
    # counted up to one past what the header shows, not all of them
    assert notices.unread_count([], None, True) == notices.UNREAD_SHOWN_MAX + 1
    assert [shown(n) for n in (0, 1, 99, 100, 5000)] == ["", "1", "99", "99+", "99+"]

    r = browser.submit(
        "/staff/login", "/staff/login", {"username": "rev1", "password": "password-123"}
    )
    assert r.status_code == 303
    html = browser.get("/review/").get_data(as_text=True)
    assert "99+" in html
    inbox = browser.get("/inbox")
    assert inbox.status_code == 200
    assert "Review overdue, escalated to a supervisor: RF1" in inbox.get_data(as_text=True)

    # read them all: the header has no count any more
    assert browser.submit("/inbox", "/inbox", {}).status_code == 303
    assert notices.unread_count([], None, True) == 0
