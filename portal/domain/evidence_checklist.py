"""What makes a refund case strong, per reason, and what the portal already knows by itself.

domain.md: each reason shows its evidence chain (order record, error screenshot, chat record,
listing vs. what arrived). Items the portal holds (the order's times, the listing snapshot
taken at purchase, the card-code reveal log, a cancellation) are ticked off with what they
show; the rest are asked of the buyer. Pure: facts in, a checklist out.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from portal.domain.policy import N_, Reason


class Status(enum.StrEnum):
    """Where an item stands."""

    KNOWN = "known"  # the portal holds it (ticked)
    UPLOAD = "upload"  # the buyer should upload it
    ATTACHED = "attached"  # asked of the buyer, and a file has been attached for it
    OPTIONAL = "optional"  # helps, not needed


@dataclass(frozen=True)
class Facts:
    """What the portal knows about the order and the files attached so far (aware datetimes)."""

    paid_at: datetime | None
    delivered_at: datetime | None
    delivery_sla_minutes: int
    cancelled_at: datetime | None = None
    snapshot_title: str | None = None  # the listing snapshot taken at purchase
    codes_total: int = 0
    codes_revealed: int = 0
    first_revealed_at: datetime | None = None
    files_attached: int = 0


@dataclass(frozen=True)
class Item:
    """One line of the checklist: an English msgid label, a status, and what it shows."""

    key: str
    label: str
    status: Status
    note: str = ""  # msgid, filled from params
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checklist:
    """The items for a reason, and whether enough files are attached for the buyer's part."""

    items: tuple[Item, ...]
    files_attached: int

    @property
    def asked_of_buyer(self) -> int:
        """How many items the buyer is expected to upload (attached or not yet)."""
        return sum(1 for i in self.items if i.status in (Status.UPLOAD, Status.ATTACHED))

    @property
    def enough_files(self) -> bool:
        """At least one file per item asked of the buyer."""
        return self.files_attached >= self.asked_of_buyer


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="minutes")


def build(reason: Reason | str, facts: Facts, fmt: Callable[[datetime], str] = _iso) -> Checklist:
    """The checklist for ``reason`` given ``facts``; ``fmt`` formats times for the notes."""
    reason = Reason(reason)
    items: list[Item] = []
    if reason == Reason.CANCELLED:
        items.append(_cancellation(facts, fmt))
    else:
        items.append(_order_record(facts, fmt))
    if reason == Reason.NOT_DELIVERED:
        items.append(_reveal_log(facts, fmt))
        items.append(Item("order_screenshot", N_("Screenshot of the order page"), Status.OPTIONAL))
    elif reason == Reason.NOT_AS_DESCRIBED:
        items.append(_listing(facts))
        items.append(
            Item(
                "what_arrived",
                N_("Proof of what arrived (screenshot of the card or goods)"),
                Status.UPLOAD,
            )
        )
        items.append(Item("chat", N_("Chat record with the merchant"), Status.OPTIONAL))
    elif reason == Reason.UNUSABLE:
        items.append(_reveal_log(facts, fmt))
        items.append(Item("error_screenshot", N_("Screenshot of the error message"), Status.UPLOAD))
        items.append(Item("chat", N_("Chat record with the merchant"), Status.UPLOAD))
    elif reason in (Reason.OTHER, Reason.BUYER_MISTAKE):
        items.append(Item("screenshots", N_("Screenshots that show what happened"), Status.UPLOAD))
        items.append(Item("chat", N_("Chat record with the merchant"), Status.OPTIONAL))
    return Checklist(_tick_attached(items, facts.files_attached), facts.files_attached)


def _tick_attached(items: list[Item], files: int) -> tuple[Item, ...]:
    """Files do not say what they show: count them against the items asked of the buyer, in
    the checklist's order, and tick that many."""
    ticked: list[Item] = []
    for item in items:
        if item.status == Status.UPLOAD and files > 0:
            files -= 1
            item = Item(item.key, item.label, Status.ATTACHED, item.note, item.params)
        ticked.append(item)
    return tuple(ticked)


def _order_record(facts: Facts, fmt: Callable[[datetime], str]) -> Item:
    label = N_("Order record: paid and delivered times")
    if facts.paid_at is None:
        return Item("order_record", label, Status.UPLOAD, N_("The portal has no payment time."))
    promised = facts.paid_at + timedelta(minutes=facts.delivery_sla_minutes)
    params = {"paid": fmt(facts.paid_at), "promised": fmt(promised)}
    if facts.delivered_at is None:
        note = N_("Paid %(paid)s; delivery promised by %(promised)s; not delivered.")
    elif facts.delivered_at > promised:
        params["delivered"] = fmt(facts.delivered_at)
        note = N_("Paid %(paid)s; promised by %(promised)s; delivered late, %(delivered)s.")
    else:
        params["delivered"] = fmt(facts.delivered_at)
        note = N_("Paid %(paid)s; delivered %(delivered)s, within the promised time.")
    return Item("order_record", label, Status.KNOWN, note, params)


def _cancellation(facts: Facts, fmt: Callable[[datetime], str]) -> Item:
    label = N_("The cancellation")
    if facts.cancelled_at is None:
        return Item("cancellation", label, Status.UPLOAD, N_("The portal has no cancellation."))
    return Item(
        "cancellation",
        label,
        Status.KNOWN,
        N_("Cancelled %(at)s."),
        {"at": fmt(facts.cancelled_at)},
    )


def _listing(facts: Facts) -> Item:
    label = N_("The listing as it was at purchase")
    if facts.snapshot_title is None:
        return Item(
            "listing",
            label,
            Status.UPLOAD,
            N_("The portal has no snapshot of this listing: upload a screenshot of it."),
        )
    return Item(
        "listing",
        label,
        Status.KNOWN,
        N_("Snapshot taken at purchase: %(title)s"),
        {"title": facts.snapshot_title},
    )


def _reveal_log(facts: Facts, fmt: Callable[[datetime], str]) -> Item:
    label = N_("Card-code reveal log")
    if facts.codes_total == 0:
        return Item("reveal_log", label, Status.KNOWN, N_("No card codes were delivered."))
    if facts.codes_revealed == 0 or facts.first_revealed_at is None:
        if facts.codes_total == 1:
            return Item("reveal_log", label, Status.KNOWN, N_("The code has not been viewed."))
        return Item(
            "reveal_log",
            label,
            Status.KNOWN,
            N_("None of the %(n)s codes has been viewed."),
            {"n": str(facts.codes_total)},
        )
    return Item(
        "reveal_log",
        label,
        Status.KNOWN,
        N_("%(k)s of %(n)s codes revealed, the first at %(at)s."),
        {
            "k": str(facts.codes_revealed),
            "n": str(facts.codes_total),
            "at": fmt(facts.first_revealed_at),
        },
    )
