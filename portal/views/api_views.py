"""The shop's JSON API handlers (routed under /api/v1 by ``portal.views.api``): orders in,
delivery, use, cancellation; cases and payouts out. Thin: parse with the
``portal.services.integration.api_schema`` models, call ``services.ingest``. Imported with the
first API request, and pydantic with it."""

from __future__ import annotations

import re

from flask import Response, json, request
from pydantic import ValidationError

from portal.models import Order, RefundCase
from portal.services.actors import Actor
from portal.services.errors import NotFound
from portal.services.integration import ingest, orders
from portal.services.integration.api_schema import (
    ORDER_NO_PATTERN,
    CancelIn,
    CancelOut,
    CaseList,
    CaseOut,
    DeliveryIn,
    Me,
    OrderIn,
    OrderOut,
    PayoutList,
    PayoutOut,
    UsageIn,
)
from portal.services.money import payout_lists
from portal.services.policy_text import N_
from portal.views.api_auth import Result, api_read, api_write, current_key
from portal.views.api_openapi import document

_ORDER_NO = re.compile(ORDER_NO_PATTERN)


def order_out(order: Order) -> dict:
    """An order as the API shows it."""
    return OrderOut(
        order_no=order.order_no,
        buyer_contact=order.buyer_contact,
        sku=order.product.sku,
        amount_fen=order.amount_fen,
        quantity=order.quantity,
        currency=order.currency,
        channel=order.payment.channel if order.payment else None,
        paid_at=order.paid_at,
        delivered_at=order.delivered_at,
        cancelled_at=order.cancelled_at,
        goods_used=order.goods_used,
        codes_delivered=sum(1 for c in order.codes if c.returned_at is None),
        refundable_fen=orders.refundable_fen(order),
    ).model_dump(mode="json")


def case_out(case: RefundCase, order_no: str) -> CaseOut:
    """A case as the API shows it."""
    return CaseOut(
        case_no=case.case_no,
        order_no=order_no,
        state=case.state,
        kind=case.kind,
        reason=case.reason,
        amount_requested_fen=case.amount_requested_fen,
        amount_approved_fen=case.amount_approved_fen,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _own(order_no: str) -> Order:
    if not _ORDER_NO.match(order_no):
        raise NotFound(N_("Order not found."), rule="order")
    return ingest.own_order(current_key().merchant_id, order_no)


def _actor() -> Actor:
    key = current_key()
    return ingest.shop_actor(key.merchant_id, f"api key {key.prefix}")


def _query_order_no() -> str:
    extra = sorted(set(request.args) - {"order_no"})
    if extra:  # the document forbids other query parameters: say so rather than ignore them
        raise ValidationError.from_exception_data(
            "query",
            [
                {"type": "extra_forbidden", "loc": (name,), "input": request.args[name]}
                for name in extra
            ],
        )
    value = request.args.get("order_no")
    if value is None or not _ORDER_NO.match(value):
        raise ValidationError.from_exception_data(
            "query",
            [
                {
                    "type": "missing" if value is None else "string_pattern_mismatch",
                    "loc": ("order_no",),
                    "input": value,
                    "ctx": {"pattern": ORDER_NO_PATTERN},
                }
            ],
        )
    return value


@api_read
def me() -> Result:
    """Which merchant the key belongs to."""
    key = current_key()
    return 200, Me(merchant=key.merchant.slug, key_prefix=key.prefix).model_dump()


@api_write
def create_order() -> Result:
    """A paid order: 201 when new, 200 when the same order was already received."""
    data = OrderIn.model_validate_json(request.get_data())
    order, created = ingest.create_order(current_key().merchant_id, data, _actor())
    return (201 if created else 200), order_out(order)


@api_read
def get_order(order_no: str) -> Result:
    """One of the merchant's orders."""
    return 200, order_out(_own(order_no))


@api_write
def deliver(order_no: str) -> Result:
    """Card codes delivered to the buyer."""
    order = _own(order_no)
    data = DeliveryIn.model_validate_json(request.get_data())
    return 200, order_out(ingest.deliver(order, data.codes, data.delivered_at, _actor()))


@api_write
def usage(order_no: str) -> Result:
    """The buyer activated or used the goods."""
    order = _own(order_no)
    data = UsageIn.model_validate_json(request.get_data())
    return 200, order_out(ingest.mark_used(order, data.used_at, _actor()))


@api_write
def cancel(order_no: str) -> Result:
    """Cancel the order; its refund starts by itself along the original route."""
    order = _own(order_no)
    data = CancelIn.model_validate_json(request.get_data())
    case = ingest.cancel(order, data.reason, _actor())
    order = _own(order_no)
    body = CancelOut(
        order=OrderOut.model_validate(order_out(order)),
        case=case_out(case, order_no) if case else None,
    )
    return 200, body.model_dump(mode="json")


@api_read
def list_cases() -> Result:
    """Refund cases of one of the merchant's orders."""
    order = _own(_query_order_no())
    items = [case_out(c, order.order_no) for c in orders.cases_of(order)]
    return 200, CaseList(items=items).model_dump(mode="json")


@api_read
def list_payouts() -> Result:
    """Payouts (refunds of money) of one of the merchant's orders."""
    order = _own(_query_order_no())
    items = [
        PayoutOut(
            id=p.id,
            case_no=case_no,
            order_no=order.order_no,
            channel=p.channel,
            amount_fen=p.amount_fen,
            state=p.state,
            created_at=p.created_at,
            expected_arrival_at=p.expected_arrival_at,
            settled_at=p.settled_at,
        )
        for p, case_no in payout_lists.of_order_with_case_no(order.id)
    ]
    return 200, PayoutList(items=items).model_dump(mode="json")


def openapi() -> Response:
    """The OpenAPI 3.1 document, generated from the same models that check requests."""
    return Response(json.dumps(document()), mimetype="application/json")
