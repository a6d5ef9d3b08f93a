"""Orders read from a shop's own database: what state the shop says an order is in, and why a
row could not be taken in (the problem codes an operator sees, with their parameters)."""

from __future__ import annotations

import enum


class SourceOrderState(enum.StrEnum):
    """An order as an order source reports it, in the portal's terms."""

    UNPAID = "unpaid"  # not paid (waiting, expired): not an order the portal keeps
    PAID = "paid"  # paid, nothing delivered yet (or the shop's delivery failed)
    DELIVERED = "delivered"  # paid and delivered (codes, when the shop records them)


class SourceProblem(enum.StrEnum):
    """Why a row was not taken in; kept per order until a later read takes it in."""

    UNKNOWN_STATUS = "unknown_status"  # a status number the mapping does not know
    UNKNOWN_GATEWAY = "unknown_gateway"  # a payment gateway mapped to no payout channel
    BAD_TEXT = "bad_text"  # text that is not valid UTF-8
    BAD_TIME = "bad_time"  # no usable time (NULL or a zero-date)
    BAD_AMOUNT = "bad_amount"  # not an amount in yuan with at most two decimals
    NO_QUERY_PASSWORD = "no_query_password"  # noqa: S105 (a code: the shop kept none)
    INVALID = "invalid"  # the order fails the checks every shop order passes (field, message)
