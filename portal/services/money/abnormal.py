"""Sending on a refund the channel holds because the buyer's account could not receive it.

A payout in ``abnormal`` (WeChat Pay ABNORMAL: card closed, account frozen) stays with the
channel. An operator redirects it through the channel (``AbnormalRedirector``: WeChat Pay's
``apply-abnormal-refund``) to the buyer's debit card or to the merchant's bank account; the
payout then goes back to ``pending`` and the settlement job follows it to success. Or the
operator pays another way (``payout_ops.pay_another_way``), which sets the held payout aside.

The card number and the holder's name are sent to the channel and never stored: the event
keeps the bank, the masked card and where it went.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from portal.domain import payout_states
from portal.domain.payout_states import PayoutState
from portal.extensions import db
from portal.models import Payment, Payout, RefundCase
from portal.plugins.channels import (
    AbnormalRedirect,
    AbnormalRedirector,
    ChannelError,
    ResultStatus,
)
from portal.plugins.startup import channels
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.errors import DomainError
from portal.services.money.payouts import _enqueue_settlement
from portal.services.money.settlement import refund_request
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_payout, record

#: a debit card number: 12 to 19 ASCII digits
CARD_NO = re.compile(r"[0-9]{12,19}")
#: the longest holder name accepted (Chinese names are short; the gateway's field is encrypted)
MAX_NAME = 50
#: the two places a held refund can be sent
TO_BUYER_CARD, TO_MERCHANT_ACCOUNT = "buyer_card", "merchant_account"


@dataclass(frozen=True)
class Redirection:
    """What the operator asked for: where to, and for a card, which bank, card and name."""

    to: str
    bank_code: str = ""
    card_no: str = ""
    holder_name: str = ""


def redirector(channel_id: str) -> AbnormalRedirector | None:
    """The channel, if it is loaded and can redirect a held refund."""
    try:
        channel = channels().get(channel_id)
    except ChannelError:
        return None
    return channel if isinstance(channel, AbnormalRedirector) else None


def banks(channel_id: str) -> list[tuple[str, str]]:
    """(code, name in the reader's language) of the banks the channel redirects to."""
    channel = redirector(channel_id)
    return [(code, str(name)) for code, name in channel.redirect_banks()] if channel else []


def _checked(redirection: Redirection, channel: AbnormalRedirector) -> AbnormalRedirect:
    """The channel's instruction, or DomainError naming what is wrong."""
    if redirection.to == TO_MERCHANT_ACCOUNT:
        return AbnormalRedirect(False)
    if redirection.to != TO_BUYER_CARD:
        raise DomainError(N_("Choose where the refund goes."), rule="redirect_to")
    if redirection.bank_code not in {code for code, _ in channel.redirect_banks()}:
        raise DomainError(
            N_("Choose the bank of the buyer's debit card from the list."), rule="redirect_bank"
        )
    card = redirection.card_no.replace(" ", "")
    if not CARD_NO.fullmatch(card):
        raise DomainError(
            N_("The card number is 12 to 19 digits (spaces are ignored)."), rule="redirect_card"
        )
    name = redirection.holder_name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise DomainError(
            N_("Give the card holder's real name (at most %(n)s characters)."),
            rule="redirect_name",
            n=str(MAX_NAME),
        )
    return AbnormalRedirect(True, redirection.bank_code, card, name)


def redirect(payout_id: int, actor: Actor, redirection: Redirection) -> None:
    """Ask the channel to send the held refund on; the payout goes back to pending.

    Refused (DomainError, payout unchanged) when the payout is not held, the channel cannot
    redirect, the input is wrong, or the channel refuses (its reason kept as an event).
    """
    try:
        payout = db.session.get(Payout, payout_id)
        if payout is None:
            raise DomainError(N_("Payout not found."), rule="payout")
        if payout.state not in payout_states.HELD:
            raise DomainError(
                N_("Only a refund the payment channel holds can be sent on."),
                rule="payout_state",
            )
        channel = redirector(payout.channel)
        if channel is None:
            raise DomainError(
                N_("The payment route %(channel)s cannot send a held refund on."),
                rule="no_redirect",
                channel=payout.channel,
            )
        instruction = _checked(redirection, channel)
        payment = db.session.scalars(select(Payment).where(Payment.id == payout.payment_id)).one()
        case = db.session.get_one(RefundCase, payout.case_id)
        request = refund_request(payout, payment, case.case_no)
        reference, frm, case_id = payout.gateway_reference, PayoutState(payout.state), case.id
        db.session.rollback()  # hold no transaction while talking to the gateway
        result = channel.redirect_abnormal(request, reference, instruction)
        where = {
            "to": redirection.to,
            "bank": instruction.bank_code,
            "card": instruction.masked_card(),
            "code": result.code,
        }
        case = db.session.get_one(RefundCase, case_id)
        if result.status is ResultStatus.FAILED:
            record(
                "payout_redirect_refused",
                actor,
                case=case,
                payout_id=payout_id,
                reason=result.message[:2000],
                data=where,
            )
            db.session.commit()
            raise DomainError(
                N_("The payment channel refused to send the refund on: %(why)s"),
                rule="redirect_refused",
                why=result.message or result.code,
            )
        # taken, or perhaps taken (unknown): pending, and the settlement job's query tells
        if not move_payout(
            payout_id,
            frm,
            PayoutState.PENDING,
            actor,
            case=case,
            kind="payout_redirected",
            reason=result.message[:2000],
            data=where,
            last_code=result.code,
            last_message=result.message[:2000],
            next_attempt_at=None,
        ):
            raise DomainError(
                N_("Someone else changed this payout a moment ago."), rule="concurrent"
            )
        call_after_commit(db.session(), lambda: _enqueue_settlement(payout_id))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
