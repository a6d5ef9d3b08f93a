"""The SMS notifier plugins loaded from their entry points, inside the portal's delivery job:
a buyer with a mainland mobile hears of the decision; a provider's trouble is recorded on the
notice and retried without touching the case."""

from __future__ import annotations

import pytest
from refund_portal_sms_aliyun.simulator import AliyunSmsSimulator
from refund_portal_sms_tencent.simulator import TencentSmsSimulator
from sqlalchemy import select

from portal.extensions import db
from portal.models import Notice, Order, RefundCase
from portal.services.messaging import delivery, outlets
from tests.test_notifications import rejected_case


@pytest.fixture
def aliyun(app, redis_url):
    with AliyunSmsSimulator() as sim:
        app.config.update(
            SMS_ALIYUN_ACCESS_KEY_ID=sim.key_id,
            SMS_ALIYUN_SECRET=sim.secret,
            SMS_ALIYUN_SIGN_NAME="退款门户",
            SMS_ALIYUN_ENDPOINT=sim.url,
            SMS_ALIYUN_REDIS_URL=redis_url,
            SMS_ALIYUN_TIMEOUT="1",
            SMS_ALIYUN_TEMPLATE_REJECTED="SMS_200002",
        )
        yield sim


@pytest.fixture
def tencent(app, redis_url):
    with TencentSmsSimulator() as sim:
        app.config.update(
            SMS_TENCENT_SECRET_ID=sim.secret_id,
            SMS_TENCENT_SECRET_KEY=sim.secret_key,
            SMS_TENCENT_SDK_APP_ID=sim.app_id,
            SMS_TENCENT_SIGN_NAME="退款门户",
            SMS_TENCENT_ENDPOINT=sim.url,
            SMS_TENCENT_REDIS_URL=redis_url,
            SMS_TENCENT_TIMEOUT="1",
            SMS_TENCENT_TEMPLATE_REJECTED="200002",
        )
        yield sim


def _buyer_notice(case: RefundCase, phone: str) -> Notice:
    db.session.get(Order, case.order_id).buyer_contact = phone
    db.session.commit()
    return db.session.scalars(
        select(Notice).where(Notice.audience == "buyer", Notice.case_id == case.id)
    ).one()


def test_a_throttled_provider_is_recorded_and_the_case_goes_on(app, clock, aliyun, tencent):
    aliyun.throttled.add("+8613800138000")
    case = rejected_case(clock)
    notice = _buyer_notice(case, "138 0013 8000")
    with pytest.raises(delivery.DeliveryFailed, match="BUSINESS_LIMIT_CONTROL"):
        delivery.deliver(notice.id)
    db.session.expire_all()
    n = db.session.get(Notice, notice.id)
    assert n.delivered_at is None and "BUSINESS_LIMIT_CONTROL" in n.last_error
    assert db.session.get(RefundCase, case.id).state == "rejected"
    assert len(tencent.sent) == 1  # the other provider delivered; its retry is dropped
    aliyun.throttled.clear()
    assert delivery.deliver(notice.id) == "delivered"
    assert len(aliyun.sent) == 1 and len(tencent.sent) == 1


def test_an_e_mail_contact_gets_no_sms(app, clock, aliyun, tencent):
    notice = _buyer_notice(rejected_case(clock), "buyer@example.com")
    assert delivery.deliver(notice.id) == "delivered"
    assert aliyun.sent == [] and tencent.sent == []


def test_a_decision_reaches_the_buyer_by_sms_from_both_providers(app, clock, aliyun, tencent):
    assert outlets.has_external_channels()
    case = rejected_case(clock)
    notice = _buyer_notice(case, "+86 13800138000")
    assert delivery.deliver(notice.id) == "delivered"
    assert [(s.phone, s.template, s.params) for s in aliyun.sent] == [
        ("+8613800138000", "SMS_200002", {"case_no": case.case_no})
    ]
    assert [(s.template, s.params) for s in tencent.sent] == [("200002", [case.case_no])]


def test_unconfigured_sms_plugins_add_no_delivery_jobs(app):
    assert not outlets.has_external_channels()
