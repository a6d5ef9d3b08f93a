"""The supplier's API as this example models it, shared by the client and the simulator.

``POST /v1/codes/status`` with a JSON body ``{"code": ..., "order_no": ...}`` and two
headers: ``X-Timestamp`` (Unix seconds) and ``X-Signature``, the hex HMAC-SHA256 of
``timestamp + "\\n" + body`` under the key the supplier issued. Answers: 200 with
``{"status": "redeemed" | "unused", "redeemed_at": ISO 8601 with offset | null}``; 404 with
``{"status": "unknown_code"}``; 401 for a bad or stale signature.
"""

from __future__ import annotations

import hashlib
import hmac

PATH = "/v1/codes/status"
#: a request signed longer ago than this is refused (replays)
MAX_SKEW_SECONDS = 300
#: the longest answer read
MAX_ANSWER_BYTES = 4096


def signature(key: str, timestamp: str, body: bytes) -> str:
    """The request's signature."""
    message = timestamp.encode() + b"\n" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
