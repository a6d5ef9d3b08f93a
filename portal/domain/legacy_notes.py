"""The English sentences older versions stored where a note code belongs, mapped to codes.

Rows written before notes were codes hold sentences ("offer #2 accepted"). The cases'
decision notes are rewritten by a migration; the events, an append-only audit trail that
no migration may change, are mapped when they are read. A sentence not known here is shown
as it was written, labelled as an older record's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from portal.domain.notes import Note


def _deadline(m: re.Match[str]) -> Note:
    # the old sentence formatted the deadline in UTC ("%Y-%m-%d %H:%M")
    at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return Note("auto_not_delivered", {"deadline_at": at.isoformat()})


def _fixed(code: str) -> Callable[[re.Match[str]], Note]:
    return lambda m: Note(code)


_KNOWN: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Note]]] = [
    (
        re.compile(
            r"The order was not delivered by (\d{4}-\d\d-\d\d \d\d:\d\d), as its own times show\."
        ),
        _deadline,
    ),
    (re.compile(r"offer #\d+ accepted"), _fixed("offer_accepted")),
    (re.compile(r"merchant did not answer in time"), _fixed("merchant_silent_approved")),
    (re.compile(r"no answer from the merchant in its window"), _fixed("merchant_silent")),
    (re.compile(r"order cancelled: automatic refund"), _fixed("cancelled_auto_refund")),
    (re.compile(r"review target of working days passed"), _fixed("review_target_passed")),
    (re.compile(r"the material asked for did not arrive in time"), _fixed("info_timeout")),
    (
        re.compile(r"waiting for the next bank batch export and the bank statement"),
        _fixed("awaiting_batch"),
    ),
    (
        re.compile(r"a bank payout settles only when it appears on an imported statement"),
        _fixed("awaiting_statement"),
    ),
]


def recognise(text: str) -> Note | None:
    """The note an old sentence meant, or None if it is not one the portal wrote."""
    for pattern, make in _KNOWN:
        m = pattern.fullmatch(text.strip())
        if m:
            return make(m)
    return None
