"""The notifier contract: the notice a ``send_notice`` implementation receives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NoticeMessage:
    """One notice to deliver outside the portal (SMS, app push, chat...), immutable.

    ``id`` is the same on every delivery attempt of the notice: use it to drop duplicates.
    """

    id: int
    audience: str  # "buyer" | "merchant" | "staff"
    kind: str  # what happened, e.g. "case_rejected"
    text: str  # already translated (Chinese by default)
    case_no: str = ""
    order_no: str = ""
    contact: str = ""  # the buyer's phone or e-mail, for buyer notices
    state: str = ""  # for kind "state": the state the case entered (e.g. "approved")
