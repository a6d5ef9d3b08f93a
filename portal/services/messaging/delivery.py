"""Delivering notices outside the portal: e-mail over SMTP and notifier plugins, with timeouts."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from email.message import EmailMessage

from portal.extensions import db
from portal.infra.i18n import force_locale, gettext
from portal.models import Notice, Order
from portal.plugins.manager import call_impl
from portal.plugins.notices import NoticeMessage
from portal.services import context

#: the name ``delivered_via`` gives the e-mail channel (plugins are named by their plugin name)
MAIL = "mail"


class DeliveryFailed(Exception):
    """A channel failed; the job is retried."""


def text_of(notice: Notice, locale: str = "zh_CN") -> str:
    """The notice in words (Chinese by default)."""
    with force_locale(locale):
        translated = gettext(notice.message)
    try:
        return translated % notice.params
    except (KeyError, TypeError, ValueError):
        return translated


def deliver(notice_id: int) -> str:
    """Send one notice by e-mail (buyers with an e-mail contact) and to every notifier plugin."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        return "gone"
    if notice.delivered_at is not None:
        return "already delivered"
    order = db.session.get(Order, notice.order_id) if notice.order_id else None
    message = NoticeMessage(
        id=notice.id,
        audience=notice.audience,
        kind=notice.kind,
        text=text_of(notice),
        case_no=notice.params.get("case_no", ""),
        order_no=order.order_no if order else "",
        contact=order.buyer_contact if order else "",
        state=str(notice.params.get("state", "")),
    )
    errors = []
    if (
        MAIL not in notice.delivered_via
        and order is not None
        and "@" in order.buyer_contact
        and context.setting("MAIL_SERVER", None)
    ):
        try:
            send_mail(order.buyer_contact, message)
        except (OSError, smtplib.SMTPException) as exc:
            errors.append(f"mail: {exc}")
        else:
            _reached(notice, MAIL)
    errors += _run_notifiers(
        message, skip=set(notice.delivered_via), reached=lambda name: _reached(notice, name)
    )
    notice.attempts += 1
    if errors:
        notice.last_error = "; ".join(errors)[:2000]
        db.session.commit()
        raise DeliveryFailed(notice.last_error)
    notice.delivered_at, notice.last_error = context.now(), ""
    db.session.commit()
    return "delivered"


def _reached(notice: Notice, channel: str) -> None:
    """Record at once that ``channel`` took the notice: a later failure elsewhere, or a crash,
    must not send it through this channel again."""
    notice.delivered_via = [*notice.delivered_via, channel]
    db.session.commit()


def send_mail(to: str, message: NoticeMessage) -> None:
    """One plain-text e-mail through the configured SMTP server."""
    setting = context.setting
    msg = EmailMessage()
    msg["From"] = setting("MAIL_FROM")
    msg["To"] = to
    msg["Subject"] = f"[{message.case_no or message.order_no}] {message.text[:60]}"
    msg.set_content(message.text + f"\n\n{setting('PUBLIC_BASE_URL').rstrip('/')}/\n")
    with smtplib.SMTP(
        setting("MAIL_SERVER"), int(setting("MAIL_PORT")), timeout=float(setting("MAIL_TIMEOUT"))
    ) as smtp:
        smtp.send_message(msg)


def _run_notifiers(
    message: NoticeMessage, skip: set[str], reached: Callable[[str], None]
) -> list[str]:
    """Call each plugin's send_notice (with its own settings) with a timeout, but for the
    plugins in ``skip`` (they already took it); ``reached`` records each success; collect
    failures."""
    pm = context.plugin_manager()
    timeout = float(context.setting("NOTIFIER_TIMEOUT"))
    errors = []
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        for impl in pm.hook.send_notice.get_hookimpls():
            if impl.plugin_name in skip:
                continue
            try:
                settings = context.plugin_settings(impl.plugin_name)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, not fatal
                errors.append(f"{impl.plugin_name}: {exc}")
                continue
            future = pool.submit(call_impl, impl, notice=message, settings=settings)
            try:
                future.result(timeout=timeout)
            except FutureTimeout:
                errors.append(f"{impl.plugin_name}: timed out after {timeout:g} s")
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ThreadPoolExecutor(max_workers=1)  # the hung one is abandoned
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, not fatal
                errors.append(f"{impl.plugin_name}: {exc}")
            else:
                reached(impl.plugin_name)
    finally:
        pool.shutdown(wait=False)
    return errors
