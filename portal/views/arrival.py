"""How a payout's route, destination and arrival time read to the buyer."""

from __future__ import annotations

from collections.abc import Iterable

from portal.infra.i18n import gettext
from portal.models import Payout
from portal.plugins.startup import channels
from portal.services.money.payouts import payment_ref
from portal.views.punctuation import colon


def arrival_texts(payouts: Iterable[Payout]) -> dict[int, str]:
    """Per payout id: "支付宝：即时到账" / "Alipay: at once" and the like."""
    registry = channels()
    texts: dict[int, str] = {}
    for p in payouts:
        if p.channel not in registry:
            texts[p.id] = p.channel.removeprefix("manual:")
            continue

        channel = registry.get(p.channel)
        payment = p.case.order.payment
        assert payment is not None  # a payout is only ever made against a payment
        window = channel.arrival(payment_ref(payment))
        if window.low == 0 and window.high == 0:
            when = gettext("at once")
        elif window.low == 0:
            when = gettext("at once (some banks up to %(n)s working days)", n=window.high)
        else:
            when = gettext("%(a)s–%(b)s working days", a=window.low, b=window.high)
        texts[p.id] = f"{channel.label}{colon()}{when}"
    return texts


def destinations(payouts: Iterable[Payout]) -> dict[int, str]:
    """Per payout id, where the money goes: the card's last digits when the payment names an
    account number, otherwise the account of the payment route that paid."""
    registry = channels()
    texts: dict[int, str] = {}
    for p in payouts:
        payment = p.case.order.payment
        account = str((payment.extra or {}).get("account_no", "")) if payment else ""
        digits = "".join(ch for ch in account if ch.isdigit())
        if len(digits) >= 4:
            texts[p.id] = gettext("the bank card ending in %(last4)s", last4=digits[-4:])
        elif p.channel in registry:
            route = registry.get(p.channel).label
            texts[p.id] = gettext("the %(route)s account that paid", route=route)
    return texts
