"""The OpenAPI 3.1 document of /api/v1, built from the pydantic models in ``api_schema``."""

from __future__ import annotations

import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from portal import __version__
from portal.services.integration.api_schema import (
    ORDER_NO_PATTERN,
    CancelIn,
    CancelOut,
    CaseList,
    DeliveryIn,
    Me,
    OrderIn,
    OrderOut,
    PayoutList,
    Problem,
    UsageIn,
)

REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}


def _ok(description: str, model: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


ORDER_NO_PARAM = {
    "name": "order_no",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ORDER_NO_PATTERN},
}
ORDER_NO_QUERY = {**ORDER_NO_PARAM, "in": "query"}
IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Unique per intended write; a retry with the same key and body gets the "
    "first answer, another body under the same key gets 409.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
READ_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearer": [], "timestamp": [], "signature": []}]


def _read(summary: str, model: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": READ_SECURITY,
        "parameters": params,
        "responses": {
            "200": _ok("OK", model),
            "400": _problem("A control character in the path or the query string"),
            "401": _problem("Missing, unknown or revoked API key"),
            "404": _problem("No such order for this merchant"),
            "422": _problem("Invalid query parameter"),
        },
    }


def _write(
    summary: str, body: str, ok: dict[str, Any], params: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": WRITE_SECURITY,
        "parameters": [*params, IDEMPOTENCY_PARAM],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
        "responses": {
            **ok,
            "400": _problem(
                "Idempotency-Key missing or malformed, or a control character in the path"
            ),
            "401": _problem("Unsigned, wrongly signed, stale or replayed request, or bad key"),
            "404": _problem("No such order for this merchant"),
            "409": _problem("Conflicts with what the portal holds, or key reused"),
            "422": _problem("Invalid body: `errors` names each bad field"),
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole document (computed once)."""
    _, defs = models_json_schema(
        [(m, "validation") for m in (OrderIn, DeliveryIn, UsageIn, CancelIn)]
        + [(m, "serialization") for m in (OrderOut, CancelOut, CaseList, PayoutList, Me, Problem)],
        ref_template=REF,
    )
    order = {"200": _ok("The order", "OrderOut")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "refund-portal shop API",
            "version": __version__,
            "description": "Orders, deliveries, use and cancellations in from the shop; cases "
            "and payouts out. Writes are signed: see docs/integration.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/me": {"get": _read("The merchant this key belongs to", "Me", [])},
            "/orders": {
                "post": _write(
                    "Receive a paid order",
                    "OrderIn",
                    {
                        "201": _ok("Created", "OrderOut"),
                        "200": _ok("Already received (same contents)", "OrderOut"),
                    },
                    [],
                )
            },
            "/orders/{order_no}": {"get": _read("One order", "OrderOut", [ORDER_NO_PARAM])},
            "/orders/{order_no}/delivery": {
                "post": _write("Card codes delivered", "DeliveryIn", order, [ORDER_NO_PARAM])
            },
            "/orders/{order_no}/usage": {
                "post": _write("Goods activated or used", "UsageIn", order, [ORDER_NO_PARAM])
            },
            "/orders/{order_no}/cancel": {
                "post": _write(
                    "Cancel the order (refunds automatically)",
                    "CancelIn",
                    {"200": _ok("Cancelled", "CancelOut")},
                    [ORDER_NO_PARAM],
                )
            },
            "/cases": {"get": _read("Cases of an order", "CaseList", [ORDER_NO_QUERY])},
            "/payouts": {"get": _read("Payouts of an order", "PayoutList", [ORDER_NO_QUERY])},
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The API key"},
                "timestamp": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Portal-Timestamp",
                    "description": "Unix time in seconds; within 5 minutes of the server",
                },
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Portal-Signature",
                    "description": "'v1=' + hex HMAC-SHA256 of 'v1\\n' + timestamp + '\\n' + "
                    "METHOD + '\\n' + path with query + '\\n' + Idempotency-Key + '\\n' + body, "
                    "keyed with the SHA-256 hex of the API key; each signature is accepted "
                    "once; the old timestamp + '.' + body form is refused",
                },
            },
        },
    }
