"""Asks the supplier about one code over HTTP and reads its answer strictly.

Anything the supplier answers outside its protocol (an error status, not JSON, a status it
does not define, a time without an offset) raises ``SupplierError``: the portal then shows the
answer as unknown. An unknown code (404) is an answer: the supplier does not know it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from portal.plugins.suppliers import Redemption
from refund_portal_card_supplier import protocol

STATUSES = {"redeemed": Redemption.REDEEMED, "unused": Redemption.NOT_REDEEMED}


class SupplierError(Exception):
    """The supplier could not be asked, or answered outside its protocol."""


@dataclass(frozen=True)
class Answer:
    """What the supplier said."""

    status: Redemption
    redeemed_at: datetime | None


def ask(base_url: str, key: str, code: str, order_no: str, timeout: float) -> Answer:
    """Ask whether ``code`` was redeemed."""
    body = json.dumps({"code": code, "order_no": order_no}, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    if not base_url.startswith(("https://", "http://")):
        raise SupplierError("the supplier's address must be http(s)")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        base_url.rstrip("/") + protocol.PATH,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Timestamp": stamp,
            "X-Signature": protocol.signature(key, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked
            status, raw = response.status, response.read(protocol.MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(protocol.MAX_ANSWER_BYTES + 1)
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a bad URL
        raise SupplierError(f"not reached: {type(exc).__name__}") from exc
    if len(raw) > protocol.MAX_ANSWER_BYTES:
        raise SupplierError("answer too long")
    return read_answer(status, raw)


def read_answer(status: int, raw: bytes) -> Answer:
    """The answer in an HTTP status and body, or SupplierError."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SupplierError(f"HTTP {status}: not JSON") from None
    if not isinstance(data, dict):
        raise SupplierError(f"HTTP {status}: not an object")
    if status == 404 and data.get("status") == "unknown_code":
        return Answer(Redemption.UNKNOWN, None)
    if status != 200 or data.get("status") not in STATUSES:
        raise SupplierError(f"HTTP {status}: no status this protocol defines")
    redeemed_at = data.get("redeemed_at")
    when = None
    if redeemed_at is not None:
        if not isinstance(redeemed_at, str):
            raise SupplierError("redeemed_at is not text")
        try:
            when = datetime.fromisoformat(redeemed_at)
        except ValueError:
            raise SupplierError("redeemed_at is not a time") from None
        if when.tzinfo is None:
            raise SupplierError("redeemed_at has no offset")
    result = STATUSES[data["status"]]
    return Answer(result, when if result == Redemption.REDEEMED else None)
