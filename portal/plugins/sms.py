"""Helpers lent to SMS notifier plugins: which notices matter, mainland numbers, a daily cap.

An SMS plugin sends a console-approved template with parameters, never free text, so it
needs to know *which* event a notice is (:func:`sms_event`), the buyer's number in E.164
form (:func:`mainland_mobile`), safe template parameters (:func:`safe_param`), and a
per-buyer daily cap that holds under concurrent deliveries (:class:`DailyCap`, Redis).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import cast

from redis import Redis

from portal.domain.sms_events import SmsEvent
from portal.domain.states import State
from portal.infra.redis_client import client_for_url
from portal.plugins.notices import NoticeMessage
from portal.plugins.settings import Setting, Validator
from portal.plugins.words import Words

__all__ = [
    "EVENT_LABELS",
    "DailyCap",
    "SmsEvent",
    "SmsTransientError",
    "common_settings",
    "deliver_templated",
    "mainland_mobile",
    "positive_int",
    "safe_param",
    "sms_event",
    "template_keys",
]

#: China Standard Time: a buyer's "day" for the cap
CST = timezone(timedelta(hours=8))
_STATE_EVENTS = {
    State.APPROVED: SmsEvent.APPROVED,
    State.REJECTED: SmsEvent.REJECTED,
    State.NEEDS_INFO: SmsEvent.NEEDS_INFO,
    State.REFUNDED: SmsEvent.REFUNDED,
}
#: each event in words, for the labels of a plugin's template settings
EVENT_LABELS = {
    SmsEvent.APPROVED: Words(zh="同意退款", en="decided for the buyer"),
    SmsEvent.REJECTED: Words(zh="驳回申请", en="decided against the buyer"),
    SmsEvent.NEEDS_INFO: Words(zh="需补充材料", en="more material asked for"),
    SmsEvent.REFUNDED: Words(zh="退款已到账", en="the money arrived"),
    SmsEvent.LATE: Words(zh="处理超时", en="late"),
}
_KIND_EVENTS = {"payout_late": SmsEvent.LATE, "escalated": SmsEvent.LATE}
# mainland mobile numbers: 11 digits, 1 then 3-9; prefixes accepted: +86, 0086, 86, none
_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_PARAM = re.compile(r"[A-Za-z0-9_\-]{1,32}")


def sms_event(notice: NoticeMessage) -> SmsEvent | None:
    """The SMS-worthy event a buyer notice is, or None (merchant/staff notices, minor steps)."""
    if notice.audience != "buyer":
        return None
    if notice.kind == "state":
        try:
            return _STATE_EVENTS.get(State(notice.state))
        except ValueError:
            return None
    return _KIND_EVENTS.get(notice.kind)


def mainland_mobile(contact: str) -> str | None:
    """``contact`` as ``+86`` E.164 when it is a mainland mobile number, else None.

    Spaces and hyphens between digits are allowed; anything else (letters, e-mail
    addresses, landlines, other countries, control characters) gives None.
    """
    text = re.sub(r"[ \-]", "", contact or "")
    match = _MOBILE.fullmatch(text)
    return "+86" + match.group(1) if match else None


def safe_param(value: str) -> str | None:
    """``value`` when it is a short code (letters, digits, ``-``, ``_``), else None.

    Template variables are substituted by the provider into an approved text: only codes
    and numbers go there, never free text, control characters or URLs.
    """
    return value if _PARAM.fullmatch(value or "") else None


class DailyCap:
    """At most ``limit`` SMS a day (China time) per number, counted atomically in Redis.

    :meth:`take` reserves one (``INCR``: concurrent deliveries cannot both take the last
    one); :meth:`give_back` returns it when the send failed. :meth:`first_delivery`
    drops a second delivery of the same notice id (deliveries may repeat).
    """

    def __init__(self, redis: Redis, prefix: str, limit: int) -> None:
        self.redis, self.prefix, self.limit = redis, prefix, limit

    @classmethod
    def for_url(cls, url: str, prefix: str, limit: int) -> DailyCap:
        """A cap counted in the Redis at ``url`` (``redis://``, or ``redis+sentinel://`` for
        Redis behind Sentinel), with the portal's bounded client."""
        return cls(client_for_url(url), prefix, limit)

    def _key(self, phone: str, now: datetime | None) -> str:
        day = (now or datetime.now(CST)).astimezone(CST).strftime("%Y%m%d")
        return f"{self.prefix}:cap:{day}:{phone}"

    def take(self, phone: str, now: datetime | None = None) -> bool:
        """Reserve one of today's SMS for ``phone``; False when the cap is reached."""
        key = self._key(phone, now)
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 2 * 86400)
        count = int(pipe.execute()[0])
        if count > self.limit:
            self.redis.decr(key)
            return False
        return True

    def give_back(self, phone: str, now: datetime | None = None) -> None:
        """Return a reservation whose SMS was not sent."""
        self.redis.decr(self._key(phone, now))

    def used(self, phone: str, now: datetime | None = None) -> int:
        """How many SMS ``phone`` was sent today."""
        return int(cast("bytes | None", self.redis.get(self._key(phone, now))) or 0)

    def first_delivery(self, notice_id: int) -> bool:
        """True the first time a notice id is seen (kept 2 days)."""
        return bool(self.redis.set(f"{self.prefix}:sent:{notice_id}", "1", nx=True, ex=2 * 86400))

    def forget_delivery(self, notice_id: int) -> None:
        """Let a notice be delivered again (its send failed and will be retried)."""
        self.redis.delete(f"{self.prefix}:sent:{notice_id}")


class SmsTransientError(Exception):
    """The provider may accept later (throttled, timed out): raised so the delivery is retried."""


Sender = Callable[[str, str, dict[str, str]], tuple[bool, bool, str]]
"""``send(phone, template_id, params) -> (ok, transient, code)``; may raise OSError-like errors."""


def deliver_templated(
    notice: NoticeMessage,
    *,
    templates: Mapping[SmsEvent, str],
    cap: DailyCap,
    send: Sender,
    log: logging.Logger,
) -> str:
    """The whole notifier flow for one notice; what happened, as a short code.

    Skips (returns) for notices that are not SMS events, buyers without a mainland mobile,
    events without a template, repeated deliveries and buyers over the daily cap. A
    provider's permanent refusal is logged and not retried; a transient one (throttling,
    timeout, network) gives the reservation back and raises :class:`SmsTransientError`
    so the portal records it on the notice and retries.
    """
    event = sms_event(notice)
    if event is None:
        return "not an sms event"
    phone = mainland_mobile(notice.contact)
    if phone is None:
        return "no mainland mobile"
    template = templates.get(event, "")
    if not template:
        return "no template"
    case_no = safe_param(notice.case_no or notice.order_no)
    if case_no is None:
        log.warning("sms notice %s: unsafe template parameter, not sent", notice.id)
        return "unsafe parameter"
    if not cap.first_delivery(notice.id):
        return "duplicate"
    if not cap.take(phone):
        log.warning("sms notice %s: daily cap reached for the buyer, not sent", notice.id)
        return "daily cap"
    try:
        ok, transient, code = send(phone, template, {"case_no": case_no})
    except Exception as exc:
        cap.give_back(phone)
        cap.forget_delivery(notice.id)
        raise SmsTransientError(f"sms send failed: {type(exc).__name__}") from exc
    if ok:
        return "sent"
    cap.give_back(phone)
    if transient:
        cap.forget_delivery(notice.id)
        raise SmsTransientError(f"provider refused for now: {code}")
    log.warning("sms notice %s: provider refused: %s", notice.id, code)
    return f"refused {code}"


def positive_int(text: str) -> None:
    """Validator: a positive whole number."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(Words(zh="须为正整数", en="must be a positive whole number"))


def template_keys(prefix: str) -> dict[SmsEvent, str]:
    """The setting naming each event's template: ``<prefix>_TEMPLATE_<EVENT>``."""
    return {event: f"{prefix}_TEMPLATE_{event.upper()}" for event in SmsEvent}


def common_settings(
    prefix: str, endpoint: str, template: Words, template_validator: Validator
) -> list[Setting]:
    """The settings every SMS notifier declares besides its provider's keys: sign name,
    endpoint, Redis, daily cap, timeout and a template per event (``template`` names one)."""
    w = Words
    return [
        Setting(f"{prefix}_SIGN_NAME", required=True, label=w(zh="短信签名", en="SMS sign name")),
        Setting(
            f"{prefix}_ENDPOINT", w(zh="短信接口地址", en="SMS endpoint URL"), default=endpoint
        ),
        Setting(
            f"{prefix}_REDIS_URL",
            required=True,
            label=w(zh="每日条数计数用的 Redis", en="Redis URL for the daily count"),
            secret=True,
        ),
        Setting(
            f"{prefix}_DAILY_CAP",
            w(zh="每位买家每日最多条数", en="most SMS a buyer gets a day"),
            validator=positive_int,
            default="5",
        ),
        Setting(
            f"{prefix}_TIMEOUT",
            w(zh="接口超时（秒）", en="timeout in seconds"),
            validator=positive_int,
            default="5",
        ),
        *(
            Setting(
                key,
                w(
                    zh=f"{template.zh}：{EVENT_LABELS[event].zh}",
                    en=f"{template.en}: {EVENT_LABELS[event].en}",
                ),
                validator=template_validator,
            )
            for event, key in template_keys(prefix).items()
        ),
    ]
