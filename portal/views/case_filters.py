"""A case list's query string read into a filter and a cursor: every value checked, anything
else a clear 400 (BadRequest), never a query built from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import url_for

from portal.domain import case_lists
from portal.domain.case_lists import Assigned, CaseFilter, Cursor, ListError
from portal.domain.money import MoneyError, parse_yuan
from portal.domain.policy import N_, Reason
from portal.domain.states import State
from portal.domain.text import bad_character
from portal.plugins.startup import channels
from portal.services.errors import BadRequest
from portal.services.refunds import queues

#: the query parameters each list reads (the benchmark and the forms use the same names)
REVIEW_PARAMS = (
    "q",
    "shop",
    "state",
    "reason",
    "channel",
    "min",
    "max",
    "overdue",
    "appeal",
    "assigned",
)
MERCHANT_PARAMS = ("q", "state", "reason", "overdue")
CURSOR_PARAMS = ("after", "before")


@dataclass(frozen=True)
class Request:
    """A list request as read: the filter, where the page starts, and the filter's parameters
    as given (for the form and for the next and previous pages' links)."""

    filter: CaseFilter
    cursor: Cursor | None
    args: dict[str, str]


def _flag(args: dict[str, str], name: str) -> bool:
    value = args.get(name, "")
    if value not in ("", "1"):
        raise BadRequest(N_("A filter has a value it cannot have."), rule="filter")
    return value == "1"


def _amount(args: dict[str, str], name: str) -> int | None:
    text = args.get(name, "")
    if not text:
        return None
    try:
        fen = parse_yuan(text)
    except MoneyError:
        raise BadRequest(N_("Enter amounts in yuan, like 12 or 12.50."), rule="amount") from None
    if fen > case_lists.AMOUNT_MAX_FEN:
        raise BadRequest(N_("That amount is larger than any case can ask."), rule="amount")
    return fen


def _choice(args: dict[str, str], name: str, allowed: Mapping[str, Any]) -> Any:
    value = args.get(name, "")
    if not value:
        return None
    if value not in allowed:
        raise BadRequest(N_("A filter has a value it cannot have."), rule="filter")
    return allowed[value]


def _cursor(raw: Mapping[str, str]) -> Cursor | None:
    after, before = raw.get("after", ""), raw.get("before", "")
    if after and before:
        raise BadRequest(case_lists.BAD_CURSOR, rule="cursor")
    if not (after or before):
        return None
    try:
        return Cursor(case_lists.decode(after or before), backward=bool(before))
    except ListError as exc:
        raise BadRequest(exc.message, rule="cursor") from None


def read(raw: Mapping[str, str], params: tuple[str, ...]) -> Request:
    """The list request in ``raw`` (the query string), reading only ``params``; BadRequest for
    a value that cannot be read."""
    args = {name: raw.get(name, "").strip() for name in params}
    args = {name: value for name, value in args.items() if value}
    search = args.get("q", "")
    if len(search) > case_lists.SEARCH_MAX or bad_character(search):
        raise BadRequest(N_("Search for a case number, an order number or a contact."), rule="q")
    shop_id = None
    if args.get("shop"):
        shop_id = queues.shop_id(args["shop"])
        if shop_id is None:
            raise BadRequest(N_("No shop has that name."), rule="shop")
    low, high = _amount(args, "min"), _amount(args, "max")
    if low is not None and high is not None and low > high:
        raise BadRequest(N_("The smallest amount is larger than the largest."), rule="amount")
    channel = _choice(args, "channel", {cid: cid for cid in channels().ids()}) or ""
    flt = CaseFilter(
        shop_id=shop_id,
        state=_choice(args, "state", {str(s): s for s in State}),
        reason=_choice(args, "reason", {str(r): r for r in Reason}),
        channel=channel,
        min_fen=low,
        max_fen=high,
        overdue=_flag(args, "overdue"),
        appeal=_flag(args, "appeal"),
        assigned=_choice(args, "assigned", {str(a): a for a in Assigned if a}) or Assigned.ANYONE,
        search=search,
    )
    return Request(flt, _cursor(raw), args)


def page_url(endpoint: str, args: dict[str, str]) -> Callable[..., str]:
    """The address of another page of the same list (``after=`` or ``before=`` a cursor),
    keeping the filter."""
    kept: dict[str, Any] = dict(args)

    def url(**cursor: Any) -> str:
        return url_for(endpoint, **kept, **cursor)

    return url
