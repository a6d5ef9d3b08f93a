"""Refund eligibility (可退款 / 不可退款), as pure functions of an order's facts.

A refusal is immediate and names the rule in words a buyer understands. The
message strings are English msgids marked with ``N_`` and translated at the edge
(``gettext(decision.message) % decision.params``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from portal.domain.calendar import DEFAULT_TZ


def N_(message: str) -> str:
    """Mark a string for translation without translating it here."""
    return message


class Reason(enum.StrEnum):
    """Why a buyer asks for a refund."""

    NOT_DELIVERED = "not_delivered"
    NOT_AS_DESCRIBED = "not_as_described"
    UNUSABLE = "unusable"
    BUYER_MISTAKE = "buyer_mistake"
    OTHER = "other"
    CANCELLED = "cancelled"  # never chosen by a buyer: the system starts these


BUYER_REASONS = (
    Reason.NOT_DELIVERED,
    Reason.NOT_AS_DESCRIBED,
    Reason.UNUSABLE,
    Reason.BUYER_MISTAKE,
    Reason.OTHER,
)

REASON_LABELS = {
    Reason.NOT_DELIVERED: N_("Not delivered in time"),
    Reason.NOT_AS_DESCRIBED: N_("Significantly not as described"),
    Reason.UNUSABLE: N_("Invalid or unusable (merchant's or platform's fault)"),
    Reason.BUYER_MISTAKE: N_("I made a mistake (wrong item, wrong account, my network)"),
    Reason.OTHER: N_("Other (explain below)"),
    Reason.CANCELLED: N_("Order cancelled by the merchant or platform"),
}


class Kind(enum.StrEnum):
    """Refund only (仅退款) or return and refund (退货退款)."""

    REFUND_ONLY = "refund_only"
    RETURN_AND_REFUND = "return_and_refund"


@dataclass(frozen=True)
class OrderFacts:
    """What eligibility needs to know about an order (all datetimes aware)."""

    paid_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    goods_used: bool
    delivery_sla: timedelta
    refund_window: timedelta
    policy_overrides_window: bool = False
    policy_text: str = ""
    refundable_fen: int = 0


@dataclass(frozen=True)
class Application:
    """What the buyer asks for."""

    reason: Reason
    amount_fen: int
    explanation: str = ""


@dataclass(frozen=True)
class Decision:
    """The answer: eligible or refused by a named rule; ``proven`` means no review needed."""

    eligible: bool
    rule: str
    message: str
    params: dict[str, str] = field(default_factory=dict)
    proven: bool = False


def _refuse(rule: str, message: str, **params: str) -> Decision:
    return Decision(False, rule, message, params)


def _shown(when: datetime) -> str:
    """A time as the buyer reads it in a refusal: China time, to the minute."""
    return when.astimezone(DEFAULT_TZ).strftime("%Y-%m-%d %H:%M")


def delivery_deadline(facts: OrderFacts) -> datetime | None:
    """When the goods had to be delivered by (paid time + the product's SLA)."""
    return facts.paid_at + facts.delivery_sla if facts.paid_at else None


def not_delivered_proven(facts: OrderFacts, now: datetime) -> bool:
    """Whether the order's own times prove it was not delivered within the SLA."""
    deadline = delivery_deadline(facts)
    if deadline is None or facts.cancelled_at is not None:
        return False
    if facts.delivered_at is None:
        return now > deadline
    return facts.delivered_at > deadline


def window_closes_at(facts: OrderFacts) -> datetime | None:
    """End of the refund window (from delivery), or None if not delivered yet."""
    return facts.delivered_at + facts.refund_window if facts.delivered_at else None


def decide(facts: OrderFacts, app: Application, now: datetime) -> Decision:
    """Decide whether an application may be filed; refusals name their rule."""
    if facts.paid_at is None:
        return _refuse(
            "not_paid", N_("This order has not been paid, so there is nothing to refund.")
        )
    if facts.cancelled_at is not None:
        return _refuse(
            "cancelled",
            N_(
                "This order was cancelled; its refund starts automatically along the original "
                "payment route. See the refund record below."
            ),
        )
    if facts.refundable_fen <= 0:
        return _refuse(
            "nothing_left", N_("Everything paid on this order has already been refunded.")
        )
    if app.amount_fen <= 0:
        return _refuse("amount_not_positive", N_("The refund amount must be more than 0."))
    if app.amount_fen > facts.refundable_fen:
        return _refuse(
            "amount_over_refundable",
            N_("You can ask for at most %(max)s yuan on this order."),
            max=f"{facts.refundable_fen // 100}.{facts.refundable_fen % 100:02d}",
        )
    if facts.goods_used:
        return _refuse(
            "goods_used",
            N_(
                "The goods have been activated or used (card code topped up, software "
                "registered), so they cannot be refunded."
            ),
        )
    if app.reason == Reason.BUYER_MISTAKE:
        return _refuse(
            "not_merchant_fault",
            N_(
                "Losses that are not caused by the merchant or the platform (a wrong item or "
                "account chosen by you, your own network) cannot be refunded. You may still "
                "contact the merchant."
            ),
        )
    if app.reason == Reason.OTHER and len(app.explanation.strip()) < 5:
        return _refuse("explanation_required", N_("Please explain what happened (reason: other)."))
    if app.reason == Reason.NOT_DELIVERED:
        return _decide_not_delivered(facts, now)
    if facts.delivered_at is None:
        return _refuse(
            "not_delivered_yet",
            N_('The goods have not been delivered yet. Choose "not delivered in time" instead.'),
        )
    closes = window_closes_at(facts)
    if closes is not None and now > closes:
        if facts.policy_overrides_window:
            return _refuse(
                "policy_window",
                N_("This product has its own refund policy: %(policy)s"),
                policy=facts.policy_text,
            )
        return _refuse(
            "after_window",
            N_("Refunds must be requested within %(days)s days after delivery; that was %(date)s."),
            days=str(facts.refund_window.days),
            date=_shown(closes),
        )
    return Decision(True, "eligible", N_("You can apply for a refund."))


def outlook(facts: OrderFacts, now: datetime) -> Decision:
    """What an application would meet now, told before the buyer fills in the form.

    Eligible when some reason could be accepted for the whole refundable amount; otherwise the
    refusal the buyer would meet with the reason that fits the order (not delivered yet: "not
    delivered in time"; delivered: "invalid or unusable"), so the order page can say why.
    """
    tried = [
        decide(facts, Application(reason, facts.refundable_fen, "-" * 5), now)
        for reason in BUYER_REASONS
        if reason != Reason.BUYER_MISTAKE
    ]
    for decision in tried:
        if decision.eligible:
            return decision
    fitting = Reason.NOT_DELIVERED if facts.delivered_at is None else Reason.UNUSABLE
    return decide(facts, Application(fitting, facts.refundable_fen, "-" * 5), now)


def _decide_not_delivered(facts: OrderFacts, now: datetime) -> Decision:
    deadline = delivery_deadline(facts)
    assert deadline is not None
    if not_delivered_proven(facts, now):
        return Decision(
            True,
            "not_delivered_proven",
            N_("The order was not delivered by %(deadline)s, as its own times show."),
            {"deadline": _shown(deadline)},
            proven=True,
        )
    if facts.delivered_at is not None:
        return _refuse(
            "delivered_on_time",
            N_("The order was delivered on time, at %(at)s."),
            at=_shown(facts.delivered_at),
        )
    return _refuse(
        "sla_not_passed",
        N_("The promised delivery time has not passed yet; please wait until %(deadline)s."),
        deadline=_shown(deadline),
    )
