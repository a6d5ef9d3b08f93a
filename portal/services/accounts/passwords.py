"""Hashing and checking query passwords and staff passwords (Argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.services import context

_DUMMY: dict[tuple[int, int], str] = {}


def _hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=int(context.setting("ARGON2_TIME_COST")),
        memory_cost=int(context.setting("ARGON2_MEMORY_COST")),
    )


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher().hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; takes as long when there is no stored hash."""
    hasher = _hasher()
    if stored_hash is None:
        key = (hasher.time_cost, hasher.memory_cost)
        if key not in _DUMMY:
            _DUMMY[key] = hasher.hash("not-a-password")
        stored_hash = _DUMMY[key]
        password = password + "\0"
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
