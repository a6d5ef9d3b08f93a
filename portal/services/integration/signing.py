"""HMAC-SHA256 signatures: API requests in (v1, bound to the request) and webhooks out.

An API write is signed ``v1``: the message is ``"v1\n" + timestamp + "\n" + METHOD + "\n" +
path with query + "\n" + Idempotency-Key + "\n" + body`` and the header carries
``v1=<lowercase hex>``; so a signature is good for one method, path, query, idempotency key
and body only. Webhooks are signed ``timestamp + "." + body`` (the receiver dedupes by the
event id in the body).
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


V1_PREFIX = "v1="


def request_message(timestamp: str, method: str, path: str, idem: str, body: bytes) -> bytes:
    """The v1 message: what an API write's signature covers."""
    head = "\n".join(("v1", timestamp, method.upper(), path, idem)) + "\n"
    return head.encode("utf-8") + body


def sign_request(
    secret: str, timestamp: str, method: str, path: str, idem: str, body: bytes
) -> str:
    """The ``X-Portal-Signature`` value (``v1=<hex>``) of an API write."""
    message = request_message(timestamp, method, path, idem, body)
    return V1_PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def request_headers(
    secret: str, method: str, path: str, idem: str, body: bytes, now_ts: int
) -> dict[str, str]:
    """The two headers that sign an API write at Unix time ``now_ts``."""
    ts = str(now_ts)
    return {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign_request(secret, ts, method, path, idem, body),
    }


def check_request(
    secret: str,
    timestamp: str,
    signature: str,
    method: str,
    path: str,
    idem: str,
    body: bytes,
    now_ts: int,
) -> str | None:
    """Why an API write's signature is refused ("missing", "old-form", "stale", "bad")."""
    if not timestamp or not signature:
        return "missing"
    if not signature.strip().lower().startswith(V1_PREFIX):
        return "old-form"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "bad"
    if abs(now_ts - int(timestamp)) > WINDOW_SECONDS:
        return "stale"
    expected = sign_request(secret, timestamp, method, path, idem, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "bad"
    return None
