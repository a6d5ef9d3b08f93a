"""How a payout's route and arrival time read to the buyer."""

from __future__ import annotations

from collections.abc import Iterable

from portal.infra.i18n import gettext
from portal.models import Payout
from portal.plugins.startup import channels
from portal.services.money.payouts import payment_ref


def arrival_texts(payouts: Iterable[Payout]) -> dict[int, str]:
    """Per payout id: "Alipay: at once (some banks 1-2 working days)" and the like."""
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
        texts[p.id] = f"{channel.label}: {when}"
    return texts
