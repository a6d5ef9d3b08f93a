"""Template glue for the evidence checklist: an order's facts in, a translated checklist out."""

from __future__ import annotations

from portal.domain import evidence_checklist as ec
from portal.domain.policy import BUYER_REASONS, Reason
from portal.models import Order, RefundCase
from portal.web import local_time


def facts_of(order: Order, files_attached: int = 0) -> ec.Facts:
    """What the portal knows about ``order`` by itself."""
    revealed = [c.first_revealed_at for c in order.codes if c.first_revealed_at]
    return ec.Facts(
        paid_at=order.paid_at,
        delivered_at=order.delivered_at,
        delivery_sla_minutes=order.product.delivery_sla_minutes,
        cancelled_at=order.cancelled_at,
        snapshot_title=order.snapshot.title if order.snapshot else None,
        codes_total=len(order.codes),
        codes_revealed=len(revealed),
        first_revealed_at=min(revealed) if revealed else None,
        files_attached=files_attached,
    )


def for_case(case: RefundCase) -> ec.Checklist:
    """The checklist of a case, counting the files attached to it."""
    return ec.build(case.reason, facts_of(case.order, len(case.evidence)), local_time)


def for_apply(order: Order) -> dict[str, ec.Checklist]:
    """One checklist per reason a buyer can choose (the page shows the chosen one)."""
    facts = facts_of(order)
    return {
        str(r): ec.build(r, facts, local_time) for r in BUYER_REASONS if r != Reason.BUYER_MISTAKE
    }
