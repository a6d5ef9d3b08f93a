"""HMAC-SHA256 request signatures, the same both ways (API requests in, webhooks out).

The signed message is ``timestamp + "." + body``: the Unix time in seconds as a decimal
string, a dot, and the exact body bytes. The signature is its lowercase hex digest.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"
#: how far a timestamp may be from the server's clock, either way
WINDOW_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def headers(secret: str, body: bytes, now_ts: int) -> dict[str, str]:
    """The two headers that sign ``body`` at Unix time ``now_ts``."""
    ts = str(now_ts)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body)}


def check(secret: str, timestamp: str, body: bytes, signature: str, now_ts: int) -> str | None:
    """Why the signature is refused ("missing", "stale", "bad"), or None if it is good."""
    if not timestamp or not signature:
        return "missing"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "bad"
    if abs(now_ts - int(timestamp)) > WINDOW_SECONDS:
        return "stale"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        return "bad"
    return None
