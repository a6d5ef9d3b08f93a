"""Merchant API keys: shown once, kept only as a SHA-256, found by a short visible prefix.

A key reads ``rpk_<prefix>_<secret>``. The portal stores ``sha256(key)`` (hex) and signs
and verifies requests with that digest as the HMAC key, so the shop derives the same
signing key from the key it holds; the key itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiKey, Merchant
from portal.services import context
from portal.services.errors import DomainError, NotFound
from portal.services.policy_text import N_

PREFIX = "rpk_"
#: last_used_at is written at most this often per key (not on every request)
TOUCH_EVERY = timedelta(seconds=60)


def hash_key(key: str) -> str:
    """The stored form of a key (and the HMAC signing key): its SHA-256 in hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(merchant_id: int, label: str = "") -> tuple[ApiKey, str]:
    """Create a key for the merchant; returns the row and the key, which is never shown again."""
    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(N_("Merchant not found."), rule="merchant")
    prefix = secrets.token_hex(4)
    key = f"{PREFIX}{prefix}_{secrets.token_hex(32)}"
    row = ApiKey(
        merchant_id=merchant_id,
        prefix=prefix,
        key_hash=hash_key(key),
        label=label.strip()[:80],
        created_at=context.now(),
    )
    db.session.add(row)
    db.session.commit()
    return row, key


def create_for_slug(slug: str, label: str = "") -> tuple[ApiKey, str]:
    """``create`` for the merchant with this slug."""
    merchant = db.session.scalar(select(Merchant).where(Merchant.slug == slug))
    if merchant is None:
        raise NotFound(N_("Merchant not found."), rule="merchant")
    return create(merchant.id, label)


def authenticate(key: str) -> ApiKey | None:
    """The live key this bearer token is, or None (unknown, malformed or revoked)."""
    if not key.startswith(PREFIX) or len(key) < 20 or key[12] != "_":
        return None
    row = db.session.scalar(select(ApiKey).where(ApiKey.prefix == key[4:12]))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    return row


def touch(row: ApiKey) -> None:
    """Note that the key was used (written at most once a minute); commits."""
    now = context.now()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()


def revoke(merchant_id: int, key_id: int) -> ApiKey:
    """Revoke one of the merchant's keys; it stops working at once."""
    row = db.session.get(ApiKey, key_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(N_("API key not found."), rule="api_key")
    if row.revoked_at is not None:
        raise DomainError(N_("That key was already revoked."), rule="revoked")
    row.revoked_at = context.now()
    db.session.commit()
    return row


def keys_of(merchant_id: int) -> list[ApiKey]:
    """The merchant's keys, newest first (revoked ones included, marked)."""
    return list(
        db.session.scalars(
            select(ApiKey).where(ApiKey.merchant_id == merchant_id).order_by(ApiKey.id.desc())
        )
    )
