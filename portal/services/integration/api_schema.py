"""The shape of the JSON API: pydantic models for what comes in and goes out.

The same models validate requests (strictly: JSON types as declared, no unknown fields)
and produce the OpenAPI document, so the document cannot drift from the checks. The API's
views and the services that take orders in (ingest, CSV import) share them; they live here,
below the views, so that services never import from ``portal.views``.
Money is integer fen; times are RFC 3339 with an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from portal.domain.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, bad_character
from portal.services.accounts.passwords import FOREIGN_ARGON2_PATTERN, foreign_hash_problem


class PlainText:
    """Every API string field carries one of these: control characters refused, one rule
    (``portal.domain.text``) with one message, documented as a ``pattern``."""

    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value.setdefault("pattern", MULTI_LINE_PATTERN if self.multiline else SINGLE_LINE_PATTERN)
        return value

    def check(self, value: str) -> str:
        found = bad_character(value, self.multiline)
        if found is not None:
            raise PydanticCustomError(
                "control_character",
                "Control characters are not allowed: {char} at index {position}"
                " (U+0000-U+001F, U+007F-U+009F{allowed}).",
                {
                    "char": found[1],
                    "position": found[0],
                    "allowed": "; tab and line breaks are allowed" if self.multiline else "",
                },
            )
        return value


SINGLE_LINE = PlainText(multiline=False)
MULTI_LINE = PlainText(multiline=True)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


ORDER_NO_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OrderNo = Annotated[str, StringConstraints(pattern=ORDER_NO_PATTERN)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def _integral(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer; so do we (12.5 stays refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _string_map_schema(schema: dict[str, Any]) -> None:
    """Keys and values both constrained (pydantic's patternProperties leaves other keys free)."""
    values = next(iter(schema.pop("patternProperties").values()))
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": SINGLE_LINE_PATTERN}
    schema["additionalProperties"] = values


# Written out one by one (not built by a helper) so that type checkers read them as types.
Text40 = Annotated[str, StringConstraints(min_length=1, max_length=40), SINGLE_LINE]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64), SINGLE_LINE]
Text120 = Annotated[str, StringConstraints(min_length=1, max_length=120), SINGLE_LINE]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200), SINGLE_LINE]
FreeText200 = Annotated[str, StringConstraints(max_length=200), MULTI_LINE]
FreeText5000 = Annotated[str, StringConstraints(max_length=5000), MULTI_LINE]
Fen = Annotated[int, Field(ge=0, le=10**12), BeforeValidator(_integral)]
SlaMinutes = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_integral)]
WindowDays = Annotated[int, Field(ge=0, le=3650), BeforeValidator(_integral)]
Quantity = Annotated[int, Field(ge=1, le=10_000), BeforeValidator(_integral)]
ARGON2 = FOREIGN_ARGON2_PATTERN

Password = Annotated[str, StringConstraints(min_length=4, max_length=128), SINGLE_LINE]


def _bounded_cost(value: str) -> str:
    """The one check for Argon2 hashes from a shop (API and CSV both validate with OrderIn)."""
    problem = foreign_hash_problem(value)
    if problem:
        raise ValueError(problem)
    return value


PasswordHash = Annotated[
    str, StringConstraints(pattern=ARGON2, max_length=255), AfterValidator(_bounded_cost)
]


class Strict(BaseModel):
    """Requests: JSON types exactly as declared, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ProductIn(Strict):
    """The product as the shop lists it; saved per (merchant, sku), updated by later orders."""

    sku: Text64
    title: Text200
    description: FreeText5000 = ""
    face_value_fen: Fen = 0
    price_fen: Fen
    delivery_type: Literal["instant", "scheduled"] = "instant"
    delivery_sla_minutes: SlaMinutes = 5
    refund_window_days: WindowDays = 7
    refund_policy: FreeText5000 = ""
    policy_overrides_window: bool = False


class ListingIn(Strict):
    """The listing as the buyer saw it when paying (defaults to the product's fields)."""

    title: Text200
    description: FreeText5000 = ""
    face_value_fen: Fen = 0
    price_fen: Fen = 0
    policy_text: FreeText5000 = ""


class PaymentIn(Strict):
    """Where the money came from: a refund goes back along this route."""

    channel: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    gateway_trade_id: Text64
    merchant_trade_no: Text64
    captured_fen: Fen
    extra: dict[Text40, FreeText200] = Field(
        default_factory=dict, max_length=20, json_schema_extra=_string_map_schema
    )


class OrderIn(Strict):
    """A paid order. Give ``query_password`` (hashed with Argon2 here) or its Argon2 hash."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["query_password"]}, {"required": ["query_password_hash"]}]
        }
    )

    order_no: OrderNo
    buyer_contact: Text120
    # not nullable: leave the other one out
    query_password: Password = None  # type: ignore[assignment]
    query_password_hash: PasswordHash = None  # type: ignore[assignment]
    product: ProductIn
    listing: ListingIn | None = None
    amount_fen: Fen
    quantity: Quantity = 1
    payment: PaymentIn
    paid_at: Timestamp

    @model_validator(mode="after")
    def _one_password(self) -> OrderIn:
        if (self.query_password is None) == (self.query_password_hash is None):
            raise ValueError("give exactly one of query_password and query_password_hash")
        return self


class DeliveryIn(Strict):
    """Card codes delivered on the order (codes already recorded are not added twice)."""

    codes: Annotated[list[Text200], Field(min_length=1, max_length=1000)]
    delivered_at: Timestamp | None = None


class UsageIn(Strict):
    """The buyer activated or used the goods (a refund is then refused)."""

    used_at: Timestamp | None = None


class CancelIn(Strict):
    """The shop cancelled the order; what was paid is refunded along the original route."""

    reason: Text200


class CaseOut(BaseModel):
    """A refund case on one of the merchant's orders."""

    case_no: str
    order_no: str
    state: str
    kind: str
    reason: str
    amount_requested_fen: int
    amount_approved_fen: int | None
    created_at: datetime
    updated_at: datetime


class PayoutOut(BaseModel):
    """Money going back to the buyer along the original route."""

    id: int
    case_no: str
    order_no: str
    channel: str
    amount_fen: int
    state: str
    created_at: datetime
    expected_arrival_at: datetime | None
    settled_at: datetime | None


class OrderOut(BaseModel):
    """An order as the portal holds it."""

    order_no: str
    buyer_contact: str
    sku: str
    amount_fen: int
    quantity: int
    currency: str
    channel: str | None
    paid_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    goods_used: bool
    codes_delivered: int
    refundable_fen: int


class CancelOut(BaseModel):
    """The cancelled order and the refund case it started (none if nothing was paid)."""

    order: OrderOut
    case: CaseOut | None


class CaseList(BaseModel):
    """Cases of one order."""

    items: list[CaseOut]


class PayoutList(BaseModel):
    """Payouts of one order."""

    items: list[PayoutOut]


class Me(BaseModel):
    """Who the key belongs to (a cheap authenticated call to check a key)."""

    merchant: str
    key_prefix: str


class FieldError(BaseModel):
    """One bad field: its dotted name, a JSON pointer into the body, and what is wrong."""

    field: str
    pointer: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] = []
