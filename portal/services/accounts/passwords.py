"""Hashing and checking query passwords and staff passwords (Argon2id)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.services import context

_DUMMY: dict[tuple[int, int], str] = {}

#: Argon2 hashes made elsewhere (a shop sends them), costs bounded: each lookup verifies one
#: in a web worker, so its cost is ours. m 32..65536 KiB, t 1..3, p 1..4 (the upper ends are
#: RFC 9106's lower-memory profile; m >= 32 keeps m >= 8p), salt 8..64 and hash 16..64 bytes.
#: The API document carries this same pattern, so the check cannot drift from it.
FOREIGN_ARGON2_PATTERN = (
    r"^\$argon2(id|i|d)\$v=19"
    r"\$m=(3[2-9]|[4-9][0-9]|[1-9][0-9]{2,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}"
    r"|655[0-2][0-9]|6553[0-6]),t=[1-3],p=[1-4]"
    r"\$[A-Za-z0-9+/]{11,86}\$[A-Za-z0-9+/]{22,86}$"
)
_FOREIGN = re.compile(FOREIGN_ARGON2_PATTERN)


def foreign_hash_problem(encoded: str) -> str | None:
    """Why an Argon2 hash from outside is refused (malformed, or costs out of bounds), or None."""
    if _FOREIGN.match(encoded) and not encoded.endswith("\n"):
        return None
    return (
        "give an Argon2 hash $argon2id$v=19$m=…,t=…,p=…$salt$hash with m 32..65536, t 1..3, p 1..4"
    )


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
