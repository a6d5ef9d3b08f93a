"""The evidence checklist per reason: a table of situations in, items and ticks out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.domain import evidence_checklist as ec
from portal.domain.evidence_checklist import Status

PAID = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
K, U, OPT = Status.KNOWN, Status.UPLOAD, Status.OPTIONAL


def facts(**kw) -> ec.Facts:
    base = {
        "paid_at": PAID,
        "delivered_at": PAID + timedelta(minutes=1),
        "delivery_sla_minutes": 5,
        "snapshot_title": "Game card 100",
        "codes_total": 2,
    }
    base.update(kw)
    return ec.Facts(**base)


TABLE = [
    # reason, facts, expected [(key, status)], a note that must appear
    (
        "not_delivered",
        facts(delivered_at=None),
        [("order_record", K), ("reveal_log", K), ("order_screenshot", OPT)],
        "not delivered",
    ),
    (
        "not_delivered",
        facts(delivered_at=PAID + timedelta(minutes=40)),
        [("order_record", K), ("reveal_log", K), ("order_screenshot", OPT)],
        "delivered late",
    ),
    (
        "not_delivered",
        facts(),
        [("order_record", K), ("reveal_log", K), ("order_screenshot", OPT)],
        "within the promised time",
    ),
    (
        "not_as_described",
        facts(),
        [("order_record", K), ("listing", K), ("what_arrived", U), ("chat", OPT)],
        "Snapshot taken at purchase",
    ),
    (
        "not_as_described",
        facts(snapshot_title=None),
        [("order_record", K), ("listing", U), ("what_arrived", U), ("chat", OPT)],
        "no snapshot",
    ),
    (
        "unusable",
        facts(codes_revealed=1, first_revealed_at=PAID + timedelta(minutes=3)),
        [("order_record", K), ("reveal_log", K), ("error_screenshot", U), ("chat", U)],
        "1 of 2 codes revealed",
    ),
    (
        "unusable",
        facts(),
        [("order_record", K), ("reveal_log", K), ("error_screenshot", U), ("chat", U)],
        "None of the 2 codes",
    ),
    (
        "unusable",
        facts(codes_total=0),
        [("order_record", K), ("reveal_log", K), ("error_screenshot", U), ("chat", U)],
        "No card codes were delivered",
    ),
    (
        "cancelled",
        facts(cancelled_at=PAID + timedelta(minutes=30)),
        [("cancellation", K)],
        "Cancelled",
    ),
    ("cancelled", facts(), [("cancellation", U)], "no cancellation"),
    (
        "other",
        facts(paid_at=None),
        [("order_record", U), ("screenshots", U), ("chat", OPT)],
        "no payment time",
    ),
]


@pytest.mark.parametrize(("reason", "f", "expected", "note"), TABLE)
def test_checklist_table(reason, f, expected, note):
    cl = ec.build(reason, f)
    assert [(i.key, i.status) for i in cl.items] == expected
    rendered = " ".join(i.note % i.params if i.params else i.note for i in cl.items)
    assert note in rendered


def test_times_are_formatted_by_the_caller():
    cl = ec.build("not_delivered", facts(delivered_at=None), fmt=lambda d: d.strftime("%H:%M"))
    record = cl.items[0]
    assert record.params == {"paid": "02:00", "promised": "02:05"}


@pytest.mark.parametrize(
    ("reason", "files", "enough"),
    [
        ("unusable", 0, False),
        ("unusable", 1, False),
        ("unusable", 2, True),
        ("not_delivered", 0, True),
    ],
)
def test_enough_files_counts_items_asked_of_the_buyer(reason, files, enough):
    cl = ec.build(reason, facts(files_attached=files))
    assert cl.enough_files is enough


@pytest.mark.parametrize(
    ("files", "statuses"),
    [
        (0, [Status.UPLOAD, Status.UPLOAD]),
        (1, [Status.ATTACHED, Status.UPLOAD]),
        (2, [Status.ATTACHED, Status.ATTACHED]),
        (5, [Status.ATTACHED, Status.ATTACHED]),
    ],
)
def test_attached_files_tick_what_was_asked_in_order(files, statuses):
    """An uploaded screenshot no longer shows as missing: each file attached ticks the next
    item asked of the buyer; known and optional items are untouched."""
    cl = ec.build("unusable", facts(files_attached=files))
    asked = [i.status for i in cl.items if i.key in ("error_screenshot", "chat")]
    assert asked == statuses
    assert cl.asked_of_buyer == 2
    assert [i.status for i in cl.items if i.key in ("order_record", "reveal_log")] == [K, K]
