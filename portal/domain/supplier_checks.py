"""What a card's supplier said about one code, as the portal keeps it: redeemed, not
redeemed, or unknown (and why it is unknown). Pure: no Flask, no database.

A supplier check is asked through plugins (``check_supplier_redemption``); a supplier that
does not answer in time, fails or answers something unreadable gives "unknown", which is a
signal of its own (shown to staff, raising nothing by default), never an error.
"""

from __future__ import annotations

import enum


class Redemption(enum.StrEnum):
    """A supplier's answer about one code."""

    REDEEMED = "redeemed"
    NOT_REDEEMED = "not_redeemed"
    UNKNOWN = "unknown"


class UnknownWhy(enum.StrEnum):
    """Why an answer is unknown ("" when the supplier answered)."""

    ANSWERED = ""
    TIMEOUT = "timeout"  # no answer within SUPPLIER_CHECK_TIMEOUT
    FAILED = "failed"  # the plugin raised (connection refused, an error status, ...)
    BAD_ANSWER = "bad_answer"  # the plugin returned something that is not an answer
    SUPPLIER = "supplier"  # the supplier itself said it does not know


#: the codes of one order asked about at most (each code is one call to each supplier plugin)
MAX_CODES = 5
#: the longest supplier name kept (a plugin's label, shown to staff)
MAX_SUPPLIER_CHARS = 60
